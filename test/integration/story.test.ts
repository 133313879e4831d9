import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// `npm start` is the first thing a newcomer runs: it must keep telling the story it promises.
describe('Command: npm start (the local switchover story)', () => {
  it('moves the VIP from pgpool-1 to pgpool-2 and refuses the late, delayed and forged requests', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'local/story.ts'], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
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
