import { spawnSync } from 'node:child_process';
import { describe, expect, inject, it } from 'vitest';
import { MOTO_ENDPOINT_ENV } from '../../local/running-moto.ts';
import '../kit/moto-global.ts';

// `npm start` is the first thing a newcomer runs: it must keep telling the story it promises.
// It tells it in the run's moto_server (a world of its own there): one of its own would cost
// seconds of CPU to start and to load every service again. Without the run's server it starts its
// own, as the README's `npm start` does.
describe('Command: npm start (the local switchover story)', () => {
  it('moves the VIP from pgpool-1 to pgpool-2 and refuses the late, delayed and forged requests', () => {
    const motoEndpoint = inject('motoEndpoint');
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'local/story.ts'], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...(motoEndpoint === '' ? {} : { [MOTO_ENDPOINT_ENV]: motoEndpoint }) },
    });

    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const outcomes = [...run.stdout.matchAll(/^ {3}controller: ([A-Z]+)/gm)].map((match) => match[1]);
    expect(outcomes).toEqual(['APPLIED', 'APPLIED', 'APPLIED', 'NOOP', 'STALE', 'REJECTED']);
    expect(run.stdout).toMatch(/route stayed on pgpool-2 \(eni-[0-9a-f]+\) through the late down/);
    expect(run.stdout.match(/exit 0 after \d+ ms/g)).toHaveLength(4);
    expect(run.stdout).toContain('the route stays on pgpool-1 on purpose: the controller never deletes it');
    expect(run.stdout).toContain("in AWS the bus's rule invokes the function directly");
    expect(run.stdout).toMatch(/holder: not read \(refused at verify, before the ledger\)/);
    expect(run.stdout).not.toMatch(/holder: - -> -/);
    expect(run.stdout.match(/^ {3}audit \(shortened: /gm)).toHaveLength(6);
    // totalMs counts the record step: never below parse, verify and record, which run one after the other.
    for (const [, line] of run.stdout.matchAll(/^ {3}audit \(shortened: [^)]*\): (.*)$/gm)) {
      const { totalMs, durationsMs } = JSON.parse(line ?? '{}') as { totalMs: number; durationsMs: Record<string, number> };
      expect(durationsMs.record).toBeGreaterThan(0);
      expect(totalMs).toBeGreaterThanOrEqual((durationsMs.parse ?? 0) + (durationsMs.verify ?? 0) + (durationsMs.record ?? 0));
    }
  }, 150_000);
});
