import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect } from 'vitest';
import { recordFileCost } from './file-costs.ts';

// A setup file: runs around every test file in its worker and records what the file cost
// (test/kit/file-costs.ts), for the next run's order.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The kernel's clock ticks per second in /proc (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** CPU of the children this worker waited for, in ms (Linux: fields cutime and cstime of /proc/self/stat); 0 elsewhere. */
function waitedForChildrenMs(): number {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / TICKS_PER_SECOND || 0;
  } catch {
    return 0;
  }
}

let started = 0;
let ownCpu = process.cpuUsage();
let childrenCpuMs = 0;

beforeAll(() => {
  started = performance.now();
  ownCpu = process.cpuUsage();
  childrenCpuMs = waitedForChildrenMs();
});

afterAll(() => {
  const own = process.cpuUsage(ownCpu);
  const path = expect.getState().testPath;
  if (path === undefined) return;
  recordFileCost({
    file: relative(ROOT, path),
    wallMs: performance.now() - started,
    cpuMs: (own.user + own.system) / 1000 + (waitedForChildrenMs() - childrenCpuMs),
    at: Date.now(),
  });
});
