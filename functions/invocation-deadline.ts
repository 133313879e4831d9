import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The deadline of the invocation a piece of work belongs to. The switchover sets its signal
 * twice: first the steps' cutoff, then the outcome record's. The controller's HTTP handler
 * (`functions/adapters/client-settings.ts`) hands the signal current at each AWS call to that
 * call, so a call still in flight at the deadline is aborted instead of running on into the
 * record's time (or, once Lambda freezes the container, into the next invocation).
 */
export interface InvocationDeadline {
  signal?: AbortSignal;
}

const current = new AsyncLocalStorage<InvocationDeadline>();

/** Runs `work` with `deadline` as the deadline of every AWS call it makes. */
export function underDeadline<T>(deadline: InvocationDeadline, work: () => Promise<T>): Promise<T> {
  return current.run(deadline, work);
}

/** The deadline signal of the invocation running now, if any. */
export function currentDeadline(): AbortSignal | undefined {
  return current.getStore()?.signal;
}

/** A signal aborted after `ms`, with `reason`; clear() stops its timer once the work is done. */
export function deadlineAfter(ms: number, reason: string): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(reason)), Math.max(0, ms));
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

/** The work's result, or a rejection with the signal's reason as soon as it is aborted. */
export async function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return await work;
  let onAbort: () => void = () => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
