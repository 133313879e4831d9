import { DeadlineReachedError } from './errors.ts';

/**
 * The one clock every step of a command shares. pgpool waits for the agent without a
 * timeout, so every network call is cut off by this signal and every wait sleeps at most
 * until it fires.
 */
export class Deadline {
  public readonly signal: AbortSignal;
  public readonly totalMs: number;
  private readonly endsAt: number;
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;

  public constructor(totalMs: number, now: number = Date.now()) {
    this.totalMs = totalMs;
    this.endsAt = now + totalMs;
    this.signal = this.controller.signal;
    // Kept referenced on purpose: an awaited promise with no I/O behind it must still end at the deadline.
    this.timer = setTimeout(() => this.controller.abort(), Math.max(0, this.endsAt - Date.now()));
  }

  public remainingMs(): number {
    return Math.max(0, this.endsAt - Date.now());
  }

  public get expired(): boolean {
    return this.signal.aborted || this.remainingMs() === 0;
  }

  /** Seconds, for messages: `timed out after 30 s`. */
  public get totalSeconds(): string {
    return `${Math.round(this.totalMs / 100) / 10} s`;
  }

  /**
   * Runs `work` with a signal that fires at the deadline (or after `timeoutMs`, whichever is
   * first) and rejects with DeadlineReachedError naming `what` if the deadline wins, even when
   * `work` ignores its signal.
   */
  public async race<T>(what: string, work: (signal: AbortSignal) => Promise<T>, timeoutMs?: number): Promise<T> {
    if (this.expired) throw this.reached(what);
    const signal = timeoutMs === undefined ? this.signal : AbortSignal.any([this.signal, AbortSignal.timeout(timeoutMs)]);
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(this.reached(what));
      this.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([work(signal), aborted]);
    } catch (error) {
      if (this.signal.aborted) throw this.reached(what, error);
      throw error;
    } finally {
      if (onAbort !== undefined) this.signal.removeEventListener('abort', onAbort);
      aborted.catch(() => undefined);
    }
  }

  /** Sleeps `ms`, or until the deadline if that comes first; false when the deadline has passed. */
  public async sleep(ms: number): Promise<boolean> {
    const wait = Math.min(ms, this.remainingMs());
    if (wait > 0) {
      await new Promise<void>((resolve) => setTimeout(resolve, wait));
    }
    return !this.expired;
  }

  public reached(what: string, cause?: unknown): DeadlineReachedError {
    return new DeadlineReachedError(`timed out after ${this.totalSeconds} ${what}`, { cause });
  }

  public dispose(): void {
    clearTimeout(this.timer);
  }
}
