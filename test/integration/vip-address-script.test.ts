import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCRIPT_PATH } from '../../infra/ssm-document.ts';

// The script runs as root on the node (SSM). Here it runs as root inside a network namespace
// this test creates, so the real `ip addr add/del` happens without touching the host.
const isRoot = process.getuid?.() === 0;
const namespace = `pgvt-${process.pid}`;
const script = fileURLToPath(SCRIPT_PATH);

function run(...args: string[]) {
  const result = spawnSync('ip', ['netns', 'exec', namespace, 'sh', script, ...args], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() };
}
const addresses = (): string =>
  execFileSync('ip', ['netns', 'exec', namespace, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' });

describe.skipIf(!isRoot)('Script: vip-address.sh (needs root for a network namespace; CI runs as root)', () => {
  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', namespace]);
    // A veth pair, both ends in the namespace: the dummy driver is not on every kernel.
    execFileSync('ip', ['-n', namespace, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'peer0']);
    execFileSync('ip', ['-n', namespace, 'link', 'set', 'eth0', 'up']);
  });
  afterAll(() => {
    spawnSync('ip', ['netns', 'delete', namespace]);
  });

  it('adds the VIP, and adding it again succeeds without a second address', () => {
    expect(run('add', '198.19.0.50', 'eth0')).toEqual({ status: 0, stdout: 'added 198.19.0.50/32 to eth0', stderr: '' });
    expect(run('add', '198.19.0.50', 'eth0')).toEqual({ status: 0, stdout: '198.19.0.50/32 already on eth0', stderr: '' });
    expect(addresses().match(/inet 198\.19\.0\.50\/32/g)).toHaveLength(1);
  });

  it('removes the VIP, and removing an absent VIP succeeds', () => {
    run('add', '198.19.0.50', 'eth0');
    expect(run('remove', '198.19.0.50', 'eth0')).toEqual({ status: 0, stdout: 'removed 198.19.0.50/32 from eth0', stderr: '' });
    expect(run('remove', '198.19.0.50', 'eth0')).toEqual({ status: 0, stdout: '198.19.0.50/32 not on eth0', stderr: '' });
    expect(addresses()).not.toContain('198.19.0.50');
  });

  it('does not report a VIP followed by a line break as present when only the VIP is there', () => {
    run('add', '198.19.0.50', 'eth0');

    expect(run('check', '198.19.0.50\n', 'eth0').status).toBe(2);
    expect(run('remove', '198.19.0.50\n', 'eth0').status).toBe(2);
    expect(addresses()).toContain('inet 198.19.0.50/32');
    run('remove', '198.19.0.50', 'eth0');
  });

  it('checks without changing anything: present, then absent', () => {
    run('add', '198.19.0.50', 'eth0');
    expect(run('check', '198.19.0.50', 'eth0')).toEqual({ status: 0, stdout: 'present 198.19.0.50/32 on eth0', stderr: '' });
    run('remove', '198.19.0.50', 'eth0');
    const before = addresses();
    expect(run('check', '198.19.0.50', 'eth0')).toEqual({ status: 0, stdout: 'absent 198.19.0.50/32 from eth0', stderr: '' });
    expect(addresses()).toBe(before);
  });

  it.each([
    [['add', '198.19.0.500', 'eth0'], "pgpool-vip-address: VIP must be a dotted IPv4 address, not '198.19.0.500'"],
    [['add', '198.19.0.50', 'eth0;id'], "pgpool-vip-address: interface name has characters an interface cannot have: 'eth0;id'"],
    [['add', '198.19.0.50', 'eth9'], "pgpool-vip-address: no interface 'eth9' on this host"],
    [['flip', '198.19.0.50', 'eth0'], "pgpool-vip-address: action must be add, remove or check, not 'flip'"],
    [['add', '198.19.0.50\n', 'eth0'], 'pgpool-vip-address: arguments must be printable characters only (no line breaks, tabs or control characters)'],
    [['add', '198.19.0.50\n198.19.0.51', 'eth0'], 'pgpool-vip-address: arguments must be printable characters only (no line breaks, tabs or control characters)'],
    [['check', '198.19.0.50', 'eth0\nlo'], 'pgpool-vip-address: arguments must be printable characters only (no line breaks, tabs or control characters)'],
    [['add\n', '198.19.0.50', 'eth0'], 'pgpool-vip-address: arguments must be printable characters only (no line breaks, tabs or control characters)'],
    [['add', '198.19.0.50\r', 'eth0'], 'pgpool-vip-address: arguments must be printable characters only (no line breaks, tabs or control characters)'],
    [['add', '198.19.0.50', 'eth0', 'extra'], 'pgpool-vip-address: takes 3 arguments (action, VIP, interface), not 4'],
  ])('fails on %j and changes nothing', (args, message) => {
    const before = addresses();

    expect(run(...args)).toEqual({ status: 2, stdout: '', stderr: message });
    expect(addresses()).toBe(before);
  });
});
