import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { latestFileCosts, type FileCost } from './file-costs.ts';

/**
 * A file that mostly waits (deadlines waited out, retry backoffs, moto answering): under a
 * third of its wall time on a CPU, and long enough for its order to matter.
 */
const MOSTLY_WAITS = (cost: FileCost): boolean => cost.wallMs >= 2_000 && cost.cpuMs < cost.wallMs / 3;

/**
 * The run's order: vitest's own (files that failed first, then the longest first), with the
 * files that mostly wait spread among the others. The workers outnumber the cores (vitest.config.ts),
 * and the longest files are mostly the waiting ones: run first together, they left the cores idle
 * for seconds while the files that need them queued behind. Each waiting file now starts beside
 * busy ones (one waiting, then as many busy as there are other workers). Without the costs of a
 * last run (test/kit/record-file-cost.ts), vitest's order stands.
 */
export class WaitingSpreadSequencer extends BaseSequencer {
  public override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const ordered = await super.sort(files);
    const costs = latestFileCosts();
    const root = this.ctx.config.root;
    const costOf = (spec: TestSpecification): FileCost | undefined => costs.get(relative(root, spec.moduleId));
    const failedBefore = (spec: TestSpecification): boolean =>
      this.ctx.cache.getFileTestResults(`${spec.project.name}:${relative(root, spec.moduleId)}`)?.failed === true;

    const busyPerWaiting = Math.max(1, (this.ctx.config.maxWorkers ?? 2) - 1);
    return [...ordered.filter(failedBefore), ...spreadWaiting(ordered.filter((spec) => !failedBefore(spec)), costOf, busyPerWaiting)];
  }
}

/**
 * The files in their order, but each file that mostly waits followed by `busyPerWaiting` of the
 * others (the waiting ones keep their order among themselves, and so do the others).
 */
export function spreadWaiting<T>(ordered: readonly T[], costOf: (file: T) => FileCost | undefined, busyPerWaiting: number): T[] {
  const waits = (file: T): boolean => {
    const cost = costOf(file);
    return cost !== undefined && MOSTLY_WAITS(cost);
  };
  const waiting = ordered.filter(waits);
  const busy = ordered.filter((file) => !waits(file));
  const spread: T[] = [];
  while (waiting.length > 0 || busy.length > 0) {
    const next = waiting.shift();
    if (next !== undefined) spread.push(next);
    spread.push(...busy.splice(0, busyPerWaiting));
  }
  return spread;
}
