import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseStat, readIncarnation } from '../../agent/incarnation.ts';

const BOOT_ID = '0f1e2d3c-4b5a-4968-8776-655443322110';
const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A /proc with the given processes (pid -> name, parent, start ticks) and a boot id. */
function procWith(processes: Record<number, readonly [comm: string, ppid: number, startTicks: number]>, bootId: string | null = BOOT_ID): string {
  const root = mkdtempSync(join(tmpdir(), 'pgpool-vip-proc-'));
  roots.push(root);
  for (const [pid, [comm, ppid, startTicks]] of Object.entries(processes)) {
    mkdirSync(join(root, pid));
    const fields = ['S', String(ppid), ...Array.from({ length: 17 }, () => '0'), String(startTicks), '123456'];
    writeFileSync(join(root, pid, 'stat'), `${pid} (${comm}) ${fields.join(' ')}\n`);
  }
  if (bootId !== null) {
    mkdirSync(join(root, 'sys/kernel/random'), { recursive: true });
    writeFileSync(join(root, 'sys/kernel/random/boot_id'), `${bootId}\n`);
  }
  return root;
}

describe('Function: readIncarnation', () => {
  it('names the watchdog and the escalation process when an escalation runs the agent', () => {
    const procRoot = procWith({ 300: ['pgpool', 1, 1000], 310: ['pgpool', 300, 1010], 420: ['pgpool', 310, 9000] });

    expect(readIncarnation({ procRoot, parentPid: 420 })).toEqual({ bootId: BOOT_ID, watchdog: '310@1010', escalation: '420@9000' });
  });

  it('names no escalation when the watchdog itself runs the agent (a re-acquire)', () => {
    const procRoot = procWith({ 300: ['pgpool', 1, 1000], 310: ['pgpool', 300, 1010] });

    expect(readIncarnation({ procRoot, parentPid: 310 })).toEqual({ bootId: BOOT_ID, watchdog: '310@1010', escalation: null });
  });

  it('counts from the agent up, so a wrapper named pgpool above pgpool changes nothing', () => {
    const procRoot = procWith({ 200: ['pgpool', 1, 900], 300: ['pgpool', 200, 1000], 310: ['pgpool', 300, 1010], 420: ['pgpool', 310, 9000] });

    expect(readIncarnation({ procRoot, parentPid: 420 })).toMatchObject({ watchdog: '310@1010', escalation: '420@9000' });
  });

  it('looks through a wrapper between pgpool and the agent (a timing script, sudo)', () => {
    const procRoot = procWith({
      300: ['pgpool', 1, 1000],
      310: ['pgpool', 300, 1010],
      420: ['pgpool', 310, 9000],
      421: ['sudo', 420, 9001],
      422: ['timed-if-cmd.sh', 421, 9002],
    });

    expect(readIncarnation({ procRoot, parentPid: 422 })).toEqual({ bootId: BOOT_ID, watchdog: '310@1010', escalation: '420@9000' });
  });

  it('looks through no more than three wrappers', () => {
    const procRoot = procWith({ 300: ['pgpool', 1, 1000], 310: ['pgpool', 300, 1010], 500: ['sh', 310, 1], 501: ['sh', 500, 2], 502: ['sh', 501, 3], 503: ['sh', 502, 4] });

    expect(readIncarnation({ procRoot, parentPid: 502 })).toMatchObject({ watchdog: '310@1010', escalation: null });
    expect(readIncarnation({ procRoot, parentPid: 503 })).toBeUndefined();
  });

  it.each([
    ['a shell runs the agent', { 50: ['bash', 1, 10] }, 50],
    ['pgpool itself, with no watchdog between, runs the agent', { 300: ['pgpool', 1, 1000] }, 300],
    ['the parent is gone', {}, 999],
  ] as const)('sends no incarnation when %s', (_case, processes, parentPid) => {
    expect(readIncarnation({ procRoot: procWith(processes), parentPid })).toBeUndefined();
  });

  it('sends no incarnation without a readable boot id (start times only compare within one boot)', () => {
    const procRoot = procWith({ 300: ['pgpool', 1, 1000], 310: ['pgpool', 300, 1010] }, null);

    expect(readIncarnation({ procRoot, parentPid: 310 })).toBeUndefined();
  });
});

describe('Function: parseStat', () => {
  it('reads a name holding spaces and parentheses', () => {
    const fields = ['S', '77', ...Array.from({ length: 17 }, () => '0'), '4242', '1'];

    expect(parseStat(`12 (pg (x) y) ${fields.join(' ')}`)).toEqual({ comm: 'pg (x) y', ppid: 77, startTicks: '4242' });
  });

  it('refuses a line without the fields it needs', () => {
    expect(parseStat('12 (pgpool) S 1')).toBeNull();
    expect(parseStat('garbage')).toBeNull();
  });
});
