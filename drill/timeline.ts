/** One thing that happened, from any source (pgpool log, router, SSM executor, controller, drill). */
export interface TimelineEvent {
  at: number;
  source: string;
  text: string;
}

/** Collects events from every part of the world, in one clock (epoch ms). */
export class Timeline {
  private readonly events: TimelineEvent[] = [];

  public add(source: string, text: string, at: number = Date.now()): void {
    this.events.push({ at, source, text });
  }

  /** Events in [from, to], ordered by time. */
  public between(from: number, to: number = Number.POSITIVE_INFINITY): TimelineEvent[] {
    return this.events.filter((event) => event.at >= from && event.at <= to).sort((a, b) => a.at - b.at);
  }
}

/** `+12.345s source: text` lines relative to `origin`. */
export function formatTimeline(events: readonly TimelineEvent[], origin: number): string[] {
  return events.map((event) => {
    const offset = ((event.at - origin) / 1000).toFixed(3).padStart(8);
    return `  ${offset}s ${event.source.padEnd(10)} ${event.text}`;
  });
}
