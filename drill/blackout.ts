/** One TCP connect attempt from the app host to VIP:9999. */
export interface ProbeSample {
  t: number;
  ok: boolean;
  ms: number;
  error?: string;
}

/** A stretch of failed connects: from the first failure to the first success after it. */
export interface Blackout {
  from: number;
  to: number | null;
  ms: number | null;
  failures: number;
}

/** The blackouts seen in [from, to]; an open one (no success yet) has to = null. */
export function blackouts(samples: readonly ProbeSample[], from: number, to: number): Blackout[] {
  const window = samples.filter((sample) => sample.t >= from && sample.t <= to).sort((a, b) => a.t - b.t);
  const found: Blackout[] = [];
  let open: Blackout | null = null;
  for (const sample of window) {
    if (!sample.ok) {
      if (open === null) open = { from: sample.t, to: null, ms: null, failures: 0 };
      open.failures += 1;
    } else if (open !== null) {
      open.to = sample.t;
      open.ms = sample.t - open.from;
      found.push(open);
      open = null;
    }
  }
  if (open !== null) found.push(open);
  return found;
}

/** Total blackout in the window: the sum of closed ones; null when one never ended. */
export function totalBlackoutMs(found: readonly Blackout[]): number | null {
  let total = 0;
  for (const blackout of found) {
    if (blackout.ms === null) return null;
    total += blackout.ms;
  }
  return total;
}
