import type { AgentIo } from './io.ts';

/** pgpool shows nothing while if_up_cmd runs: a wait longer than this gets one stderr line. */
export const SLOW_WAIT_MS = 2000;

/**
 * The agent's progress lines. Each wait that lasts longer than SLOW_WAIT_MS gets exactly one
 * stderr line saying what the agent waits for, how long it has waited and how long it will
 * still wait. Every command shares one instance, so a wait is never reported twice.
 */
export class Progress {
  private readonly io: AgentIo;
  private readonly remainingMs: () => number;
  private readonly slowAfterMs: number;

  public constructor(io: AgentIo, remainingMs: () => number, slowAfterMs: number = SLOW_WAIT_MS) {
    this.io = io;
    this.remainingMs = remainingMs;
    this.slowAfterMs = slowAfterMs;
  }

  /**
   * Runs `work`; if it is still running after the threshold, writes one line built from `what`
   * at that moment (a function, so a polling wait can say what it last saw).
   */
  public async during<T>(what: () => string, work: () => Promise<T>): Promise<T> {
    const startedAt = Date.now();
    const timer = setTimeout(() => this.report(what(), Date.now() - startedAt), this.slowAfterMs);
    timer.unref();
    try {
      return await work();
    } finally {
      clearTimeout(timer);
    }
  }

  /** One line now, for a wait the caller measures itself (e.g. a hold it was told to wait out). */
  public report(what: string, waitedMs: number): void {
    const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
    this.io.stderr(`pgpool-vip: still waiting after ${seconds(waitedMs)} for ${what}; giving up in ${seconds(this.remainingMs())}`);
  }
}
