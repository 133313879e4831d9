import { vi } from 'vitest';

/**
 * Captures what Powertools prints (log lines and EMF metrics) as parsed JSON lines, with metrics
 * switched on (vitest switches them off for every other test). `restore()` undoes both.
 */
export function captureJsonOutput(): {
  lines: () => Array<Record<string, unknown>>;
  text: () => string;
  clear: () => void;
  restore: () => void;
} {
  const chunks: string[] = [];
  const metricsDisabled = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  const capture = (chunk: unknown): boolean => {
    chunks.push(String(chunk));
    return true;
  };
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  const jsonLines = (): string[] => chunks.flatMap((chunk) => chunk.split('\n')).filter((line) => line.trim().startsWith('{'));
  return {
    lines: () => jsonLines().map((line) => JSON.parse(line) as Record<string, unknown>),
    text: () => jsonLines().join('\n'),
    clear: () => {
      chunks.length = 0;
    },
    restore: () => {
      stdout.mockRestore();
      stderr.mockRestore();
      process.env.POWERTOOLS_METRICS_DISABLED = metricsDisabled;
    },
  };
}
