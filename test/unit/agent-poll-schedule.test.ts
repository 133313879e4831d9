import { describe, expect, it } from 'vitest';
import { FIRST_PHASE_MS, FIRST_POLL_MS, nextPollMs } from '../../agent/poll-schedule.ts';

/** The steps of a wait of `totalMs` with `ceilingMs`, as the agent takes them. */
function steps(totalMs: number, ceilingMs: number): number[] {
  const taken: number[] = [];
  let elapsed = 0;
  let step = 0;
  while (elapsed < totalMs) {
    step = nextPollMs(elapsed, step, ceilingMs);
    taken.push(step);
    elapsed += step;
  }
  return taken;
}

describe('Function: the agent reads the ledger often while the answer is due, then backs off', () => {
  it(`reads every ${FIRST_POLL_MS} ms for the first ${FIRST_PHASE_MS} ms after the request was sent`, () => {
    const first = steps(FIRST_PHASE_MS, 250);
    expect(first.every((step) => step === FIRST_POLL_MS)).toBe(true);
    expect(first.length).toBe(FIRST_PHASE_MS / FIRST_POLL_MS);
  });

  it('then doubles each step up to the configured pollIntervalMs, and stays there', () => {
    const taken = steps(5000, 250).slice(FIRST_PHASE_MS / FIRST_POLL_MS);
    expect(taken.slice(0, 4)).toEqual([100, 200, 250, 250]);
    expect(Math.max(...taken)).toBe(250);
  });

  it('keeps a pollIntervalMs below the first step throughout', () => {
    expect(new Set(steps(3000, 20))).toEqual(new Set([20]));
  });

  it('costs a 30 s wait at most a fifth more reads than reading every 250 ms from the start', () => {
    expect(steps(30_000, 250).length).toBeLessThanOrEqual(Math.ceil((30_000 / 250) * 1.2));
  });
});
