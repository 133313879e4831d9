import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAwsFrontDoor, type AwsFrontDoor } from '../../local/front-door/front-door.ts';
import { MATRIX_CALLS, runCell, type MatrixCell } from '../../local/harness/fault-matrix.ts';
import { sharedMoto } from '../kit/moto.ts';

// The fault matrix's benchmark runs its cells one after the other in one world, reset between
// cells. A cell whose fault holds a call past the clients' timeout must not end before moto has
// that call: the release's claim of a `TransactWriteItems` timeout cell, held 4 s, once landed in
// the next cell's world, where the reset had removed the request record that would have refused
// it, and wrote a VIP record of its own between that cell's takeover and its release.

function cellOf(operation: string, fault: MatrixCell['fault'], path: MatrixCell['path']): MatrixCell {
  const call = MATRIX_CALLS.find((candidate) => candidate.operation === operation);
  if (call === undefined) throw new Error(`no matrix call ${operation}`);
  return { call, fault, path, persistence: 'once' };
}

let door: AwsFrontDoor;
let motoEndpoint: string;

beforeAll(async () => {
  motoEndpoint = sharedMoto().endpoint;
  door = await startAwsFrontDoor({ host: '127.0.0.1', motoEndpoint });
});
afterAll(async () => {
  await door.stop();
});

describe('Fault matrix cells sharing one world', () => {
  it('a cell ends once moto has every call it held, so the next cell in the world meets none of them', async () => {
    const held = await runCell(motoEndpoint, door, cellOf('TransactWriteItems', 'timeout', 'down'));
    expect(held.problems).toEqual([]);
    expect(door.calls.filter((call) => call.fault === 'delay').map((call) => call.endedAt > 0)).toEqual([true]);
    expect(door.calls.filter((call) => call.endedAt === 0)).toEqual([]);

    const next = await runCell(motoEndpoint, door, cellOf('GetItem', 'throttle', 'up'), held.world);
    expect(next.problems).toEqual([]);
    expect(next.outcomes.map((outcome) => outcome.outcome)).toEqual(['applied', 'applied', 'applied']);
  }, 120_000);
});
