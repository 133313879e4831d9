import { beforeAll, describe, expect, it } from 'vitest';
import { startAwsFrontDoor } from '../../local/front-door/front-door.ts';
import { describeCell, MATRIX_CALLS, runCell, type MatrixCell, type MatrixFault } from '../../local/harness/fault-matrix.ts';
import type { World } from '../../local/world.ts';
import { sharedMoto } from '../kit/moto.ts';

// Representative cells of the fault matrix (`npm run bench:faults` runs them all): each
// runs node 1 up, node 2 up (takeover), node 2 down through the front door with the controller's
// production retry settings, the fault on one call; a request that ends `failed` is sent again,
// as the agent does. Every request must end as a run without faults would, with one final record.
const CELLS: ReadonlyArray<[operation: string, fault: MatrixFault, path: 'up' | 'down', persistence: MatrixCell['persistence']]> = [
  // The first route write is held past the request timeout and retried; the held attempt lands
  // after the retry, after the request would have ended: the request waits it out, so the takeover
  // that follows is not undone by it. (First in the list: it waits longest, and cells run a few at
  // a time.)
  ['CreateRoute', 'timeout', 'up', 'once'],
  // The proof replay throttled: retried inside the verify step.
  ['GetCallerIdentity', 'throttle', 'up', 'once'],
  // The claim's transaction took effect but its answer was lost: the retry meets its own claim.
  ['TransactWriteItems', 'drop-after', 'up', 'once'],
  // Every route write fails until the request has failed once: recorded failed, resent, applied.
  ['ReplaceRoute', 'server-error', 'up', 'always'],
  // Every answer to the claim's transaction lost although it took effect: the failure is
  // recorded over the claim that landed, and the resend converges.
  ['TransactWriteItems', 'drop-after', 'up', 'always'],
  // The receiver's source/dest check cannot be turned off beside a claim that landed: recorded
  // failed over that claim (not left claimed), and the resend converges.
  ['ModifyNetworkInterfaceAttribute', 'server-error', 'up', 'always'],
  // The script failed on the node: the request fails, the resend converges.
  ['SendCommand', 'ssm-command-failed', 'up', 'once'],
  // The ledger's reads throttled on the way down.
  ['GetItem', 'throttle', 'down', 'always'],
  // The outcome event cannot be put: logged, the outcome still recorded.
  ['PutEvents', 'server-error', 'down', 'always'],
];

/**
 * Cells run side by side (maxConcurrency in vitest.config.ts), each with a front door and a world
 * of its own: faults apply to every call through a door, and a cell mostly waits (retry backoff, a
 * held call, the window a write given up on may still land in). A cell that passed hands its world
 * on to a cell that starts later, which resets it (as the benchmark does between its cells,
 * test/integration/fault-matrix-world-reuse.test.ts): a world costs moto a fraction of a second of
 * CPU, and every world makes moto's describes of the run longer.
 */
let moto: ReturnType<typeof sharedMoto>;
const idleWorlds: World[] = [];

beforeAll(() => {
  moto = sharedMoto();
});

describe.concurrent('Fault matrix, representative cells (controller through the front door, production retries)', () => {
  it.each(CELLS)('%s %s on the %s path (%s): every request ends as without the fault, one record each', async (operation, fault, path, persistence) => {
    const call = MATRIX_CALLS.find((candidate) => candidate.operation === operation);
    if (call === undefined) throw new Error(`no matrix call ${operation}`);
    const cell: MatrixCell = { call, fault, path, persistence };

    const door = await startAwsFrontDoor({ host: '127.0.0.1', motoEndpoint: moto.endpoint });
    const result = await runCell(moto.endpoint, door, cell, idleWorlds.pop()).finally(() => door.stop());

    expect({ cell: describeCell(cell), problems: result.problems }).toEqual({ cell: describeCell(cell), problems: [] });
    expect(result.injected).toBeGreaterThan(0);
    expect(result.outcomes.map((outcome) => outcome.outcome)).not.toContain('failed');
    idleWorlds.push(result.world);
  }, 120_000);
});
