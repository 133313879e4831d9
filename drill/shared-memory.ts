import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * Removes the System V shared memory segments that the given (killed) processes created and that
 * no process is attached to any more. pgpool allocates its shared memory as such segments and
 * removes them only on a clean shutdown: every `kill -9` of a node would otherwise leave tens of
 * megabytes behind for the life of the machine (a long soak left 20 GB).
 */
export async function releaseOrphanedSharedMemory(creators: readonly number[], waitMs = 2000): Promise<number> {
  if (creators.length === 0) return 0;
  const wanted = new Set(creators);
  const theirs = () => sharedMemorySegments().filter((segment) => wanted.has(segment.creatorPid));
  // A killed process's children detach as they exit: give them a moment.
  for (const deadline = Date.now() + waitMs; Date.now() < deadline && theirs().some((segment) => segment.attached !== 0); ) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  let removed = 0;
  for (const segment of theirs()) {
    if (segment.attached !== 0) continue;
    if (spawnSync('ipcrm', ['-m', String(segment.shmid)]).status === 0) removed += 1;
  }
  return removed;
}

interface SharedMemorySegment {
  shmid: number;
  creatorPid: number;
  attached: number;
}

/** The segments listed in /proc/sysvipc/shm (columns: key shmid perms size cpid lpid nattch ...). */
function sharedMemorySegments(): SharedMemorySegment[] {
  let text: string;
  try {
    text = readFileSync('/proc/sysvipc/shm', 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 7)
    .map(([, shmid, , , cpid, , nattch]) => ({ shmid: Number(shmid), creatorPid: Number(cpid), attached: Number(nattch) }))
    .filter((segment) => Number.isInteger(segment.shmid) && Number.isInteger(segment.creatorPid));
}
