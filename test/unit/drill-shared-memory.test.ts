import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { releaseOrphanedSharedMemory } from '../../drill/shared-memory.ts';

const ipcmk = spawnSync('ipcmk', ['--help']).status === 0;

/** A segment made by a process that exits at once, as a killed pgpool leaves its own. */
function orphanSegment(): { shmid: number; creatorPid: number } {
  const made = spawnSync('ipcmk', ['-M', '4096'], { encoding: 'utf8' });
  const shmid = Number(/(\d+)/.exec(made.stdout)?.[1]);
  return { shmid, creatorPid: made.pid ?? -1 };
}

const listed = (shmid: number): boolean =>
  readFileSync('/proc/sysvipc/shm', 'utf8')
    .split('\n')
    .slice(1)
    .some((line) => line.trim().split(/\s+/)[1] === String(shmid));

describe.skipIf(!ipcmk)('Function: releaseOrphanedSharedMemory (drill)', () => {
  it("removes the unattached segments of the given creators and keeps everyone else's", async () => {
    const killed = orphanSegment();
    const other = orphanSegment();

    const removed = await releaseOrphanedSharedMemory([killed.creatorPid], 0);

    expect(removed).toBe(1);
    expect(listed(killed.shmid)).toBe(false);
    expect(listed(other.shmid)).toBe(true);
    spawnSync('ipcrm', ['-m', String(other.shmid)]);
  });
});
