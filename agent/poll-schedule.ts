/**
 * How long the agent waits between two reads of the ledger (or looks at its interface) while it
 * waits for the controller. The answer usually comes within the first second or two (on AWS the
 * controller's chain up to the routed mark is about 0.8 s; on moto about 0.1 s), so the wait
 * starts with short steps and backs off to the configured interval: a read right after the
 * answer lands costs little, a read every 250 ms from the start costs 125 ms on average.
 */

/** The step of the first second: close enough to the answer, few enough reads (one GetItem each). */
export const FIRST_POLL_MS = 50;
/** How long the wait keeps its first step before backing off. */
export const FIRST_PHASE_MS = 1000;
/** Each step after the first phase is this much longer than the one before, up to the ceiling. */
const BACKOFF_FACTOR = 2;

/**
 * The wait before the next read, `elapsedMs` after the request was sent, when the previous step
 * was `previousMs` (0 before the first). Never above `ceilingMs` (the config's `pollIntervalMs`),
 * never below it when the ceiling is the smaller.
 */
export function nextPollMs(elapsedMs: number, previousMs: number, ceilingMs: number): number {
  if (ceilingMs <= FIRST_POLL_MS) return ceilingMs;
  if (elapsedMs < FIRST_PHASE_MS || previousMs < FIRST_POLL_MS) return FIRST_POLL_MS;
  return Math.min(ceilingMs, previousMs * BACKOFF_FACTOR);
}
