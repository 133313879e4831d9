import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_MAX_BYTES, loadAgentConfig } from '../../agent/config.ts';
import { Deadline } from '../../agent/deadline.ts';
import type { AgentIo } from '../../agent/io.ts';
import { main } from '../../agent/main.ts';

// The config is read before anything else, on the path pgpool never times out: whatever sits at
// the config path, the command must end, and end with a reason.
let dir: string;
const CONFIG = JSON.stringify({ cluster: 'main', vip: '198.19.0.50', ledgerTable: 'pgpool-vip-ledger' });
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgpool-vip-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, content: string, mode = 0o644): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  await chmod(path, mode);
  return path;
}

async function run(argv: string[], configPath: string) {
  const stderr: string[] = [];
  const io: AgentIo = { stdout: () => undefined, stderr: (line) => stderr.push(line), env: { PGPOOL_VIP_AGENT_CONFIG: configPath } };
  return { code: await main(argv, io), stderr };
}

describe('Function: reading the agent config file', () => {
  it('refuses a FIFO at once instead of waiting for a writer (pgpool would wait forever)', async () => {
    const fifo = join(dir, 'fifo.json');
    execFileSync('mkfifo', [fifo]);

    expect(await run(['up', '198.19.0.50', 'eth0'], fifo)).toEqual({
      code: 2,
      stderr: [`pgpool-vip: config ${fifo} is not a regular file (it is a FIFO)`],
    });
  });

  it('refuses a directory', async () => {
    await expect(loadAgentConfig(dir)).rejects.toThrow(`config ${dir} is not a regular file (it is a directory)`);
  });

  it('refuses a character device', async () => {
    await expect(loadAgentConfig('/dev/zero')).rejects.toThrow('config /dev/zero is not a regular file (it is a character device)');
  });

  it(`refuses a file over ${CONFIG_MAX_BYTES} bytes without parsing it`, async () => {
    const big = await file('big.json', ' '.repeat(CONFIG_MAX_BYTES + 1) + CONFIG);

    await expect(loadAgentConfig(big)).rejects.toThrow(`config ${big} is ${CONFIG_MAX_BYTES + 1 + CONFIG.length} bytes; a config is at most ${CONFIG_MAX_BYTES} bytes`);
  });

  it('ends at its deadline, which runs before the read starts', async () => {
    const path = await file('slow.json', CONFIG);
    const deadline = new Deadline(0);

    await expect(loadAgentConfig(path, { deadline })).rejects.toThrow(`timed out after 0 s reading config ${path}`);
    deadline.dispose();
  });

  it('warns when group or others may write the config, and still reads it', async () => {
    const path = await file('open.json', CONFIG, 0o666);
    const warnings: string[] = [];

    const config = await loadAgentConfig(path, { warn: (line) => warnings.push(line) });

    expect(config.cluster).toBe('main');
    expect(warnings).toEqual([
      `warning: config ${path} is writable by group and others (mode 0666): whoever can write it chooses the cluster, VIP and bus this node uses; run chmod go-w ${path}`,
    ]);
  });

  it('reads a private regular file without a word', async () => {
    const path = await file('private.json', CONFIG, 0o640);
    const warnings: string[] = [];

    expect((await loadAgentConfig(path, { warn: (line) => warnings.push(line) })).vip).toBe('198.19.0.50');
    expect(warnings).toEqual([]);
  });

  it('prints the warning on stderr from the command line', async () => {
    const path = await file('group.json', '{}', 0o664);

    const result = await run(['status'], path);

    expect(result.stderr[0]).toBe(
      `pgpool-vip: warning: config ${path} is writable by group (mode 0664): whoever can write it chooses the cluster, VIP and bus this node uses; run chmod go-w ${path}`,
    );
    expect(result.code).toBe(2);
  });
});
