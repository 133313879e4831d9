import { chmod, copyFile, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runAgent } from '../../local/agent-node.ts';
import { useAgentStage } from '../kit/agent-stage.ts';
import { node22Binary } from '../support/node22.ts';

// An install as docs/release.md has it: the agent file, then `pgpool-vip code-cache` as its
// owner with the node's Node. pgpool's `up` then runs from the cache and behaves as without one.
const IFACE = 'lo';
const VIP = '198.19.0.50';
const node22 = node22Binary();
const stage = useAgentStage('cc');

/**
 * A copy of the run's bundle in a folder of its own, the cache is written beside it: named as the
 * README installs it (no extension: Node's CommonJS loader runs it) or as the build names it.
 */
async function installed(name: string, fileName: 'pgpool-vip' | 'pgpool-vip.mjs' = 'pgpool-vip'): Promise<string> {
  const folder = join(stage.bundle.dir, name);
  await mkdir(folder, { recursive: true });
  const file = join(folder, fileName);
  await copyFile(stage.bundle.bundle, file);
  await chmod(file, 0o755);
  return file;
}

const nodes: Array<[string, string]> = [[`the Node that runs the tests (${process.version})`, process.execPath]];
if (node22 !== undefined) nodes.push(['Node 22', node22]);

describe.concurrent.each(nodes)('Command: pgpool-vip code-cache, then up, on %s', (_label, node) => {
  it('writes the cache beside the agent file, which a fresh start uses, and up is applied from it', async (test) => {
    const agent = await installed(`install-${nodes.findIndex(([, binary]) => binary === node)}`);
    const written = await runAgent(agent, ['code-cache'], {}, { node });
    expect([written.code, written.stderr]).toEqual([0, '']);
    expect(written.stdout).toMatch(new RegExp(`^pgpool-vip: wrote ${agent}\\.code-cache \\(\\d+ KiB\\), used by Node v`));
    expect(((await stat(`${agent}.code-cache`)).mode & 0o777).toString(8)).toBe('644');
    const check = await runAgent(agent, ['code-cache', '--check'], {}, { node });
    expect([check.code, check.stdout.trim()]).toEqual([0, `pgpool-vip: code cache ${agent}.code-cache is used by Node ${check.stdout.match(/Node (v[\d.]+)/)?.[1]}`]);

    const world = await stage.world();
    stage.controller(world, test);
    const member = await stage.node(world, 0);
    const up = await runAgent(agent, ['up', VIP, IFACE, '--no-interface-check'], member.env, { node });
    expect([up.code, up.stderr]).toEqual([0, '']);
    expect(up.stdout).toMatch(/: applied, request /);
    expect(await stage.routeTarget(world)).toBe(member.instance.eni);
  });

  it('is not used once group or others may write it: up says so on stderr and still runs, compiled from source', async (test) => {
    const agent = await installed(`writable-${nodes.findIndex(([, binary]) => binary === node)}`, 'pgpool-vip.mjs');
    expect((await runAgent(agent, ['code-cache'], {}, { node })).code).toBe(0);
    await chmod(`${agent}.code-cache`, 0o666);
    const check = await runAgent(agent, ['code-cache', '--check'], {}, { node });
    expect(check.code).toBe(1);

    const world = await stage.world();
    stage.controller(world, test);
    const member = await stage.node(world, 0);
    const up = await runAgent(agent, ['up', VIP, IFACE, '--no-interface-check'], member.env, { node });
    expect(up.code).toBe(0);
    expect(up.stderr.trim()).toBe(
      `pgpool-vip: warning: code cache ${agent}.code-cache not used: it is writable by group or others (mode 0666); run 'sudo ${agent} code-cache' again`,
    );
    expect(await stage.routeTarget(world)).toBe(member.instance.eni);
  });
});

describe('Command: pgpool-vip code-cache refuses what it cannot do', () => {
  it('takes no arguments but --check (exit 2), and --check without a cache exits 1 saying so', async () => {
    const agent = await installed('refusals');
    const extra = await runAgent(agent, ['code-cache', '/tmp/elsewhere'], {});
    expect(extra.code).toBe(2);
    expect(extra.stderr).toContain('code-cache takes no arguments but --check (got /tmp/elsewhere)');
    const check = await runAgent(agent, ['code-cache', '--check'], {});
    expect([check.code, check.stderr.trim()]).toEqual([1, `pgpool-vip: no code cache at ${agent}.code-cache: the commands are compiled at each start`]);
  });
});
