import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAwsFrontDoor, type AwsFrontDoor } from '../../local/front-door/front-door.ts';
import { startMotoServer, type MotoServer } from '../../local/moto-server.ts';
import type { World } from '../../local/world.ts';
import { describeCell, MATRIX_CALLS, MATRIX_FAULTS, runCell, type MatrixCell } from '../support/fault-matrix.ts';

// A representative part of the fault matrix (bench/faults.ts runs all of it): every call on the
// up and down paths gets one fault, the faults taking turns; SSM command failures and hangs; and
// a claim whose answers are all lost. The controller runs with its production retry settings.
let moto: MotoServer;
let door: AwsFrontDoor;
let world: World | undefined;

beforeAll(async () => {
  moto = await startMotoServer();
  door = await startAwsFrontDoor({ host: '127.0.0.1', motoEndpoint: moto.endpoint });
});
afterAll(async () => {
  await door?.stop();
  await moto?.stop();
});

const call = (operation: string) => {
  const found = MATRIX_CALLS.find((candidate) => candidate.operation === operation);
  if (found === undefined) throw new Error(`no matrix call ${operation}`);
  return found;
};
const cells: MatrixCell[] = [
  ...MATRIX_CALLS.map((matrixCall, index) => ({
    call: matrixCall,
    fault: MATRIX_FAULTS[index % MATRIX_FAULTS.length] ?? 'throttle',
    path: matrixCall.paths[index % matrixCall.paths.length] ?? 'up',
    persistence: 'once' as const,
  })),
  { call: call('SendCommand'), fault: 'ssm-command-failed', path: 'up', persistence: 'once' },
  { call: call('SendCommand'), fault: 'ssm-command-hangs', path: 'down', persistence: 'once' },
  { call: call('UpdateItem'), fault: 'drop-after', path: 'up', persistence: 'always' },
];

describe('Fault matrix: the controller retries, applies each step to the same end, and records one outcome per request', () => {
  it.each(cells.map((cell) => [describeCell(cell), cell] as const))('%s', async (_, cell) => {
    const result = await runCell(moto.endpoint, door, cell, world);
    world = result.world;

    expect(result.problems).toEqual([]);
    expect(result.injected).toBeGreaterThan(0);
    expect(result.outcomeEvents.every((count) => count >= 1)).toBe(true);
  });
});
