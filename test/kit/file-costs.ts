import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/**
 * What each test file cost in its last run: its wall time, and the CPU its worker and the child
 * processes it waited for used meanwhile. The sequencer (test/kit/sequencer.ts) orders the next
 * run by it. Kept beside the dependencies, so `npm ci` starts over from vitest's own order.
 */
export const FILE_COSTS_DIR = fileURLToPath(new URL('../../node_modules/.cache/pgpool-vip-test-costs/', import.meta.url));
const COSTS_FILE = join(FILE_COSTS_DIR, 'costs.json');

const FileCostSchema = z.object({ file: z.string(), wallMs: z.number().nonnegative(), cpuMs: z.number().nonnegative(), at: z.number() });
export type FileCost = z.infer<typeof FileCostSchema>;

/** Appends one file's cost to its worker's own list (workers write side by side, never to one file). */
export function recordFileCost(cost: FileCost): void {
  mkdirSync(FILE_COSTS_DIR, { recursive: true });
  appendFileSync(join(FILE_COSTS_DIR, `worker-${process.pid}.jsonl`), `${JSON.stringify(cost)}\n`);
}

/**
 * The latest cost of every file known, the workers' lists of the last run folded into one file.
 * Unreadable lines are dropped: a cost only orders the run, it decides nothing.
 */
export function latestFileCosts(): Map<string, FileCost> {
  const latest = new Map<string, FileCost>();
  if (!existsSync(FILE_COSTS_DIR)) return latest;
  const keep = (value: unknown): void => {
    const parsed = FileCostSchema.safeParse(value);
    if (!parsed.success) return;
    const known = latest.get(parsed.data.file);
    if (known === undefined || known.at <= parsed.data.at) latest.set(parsed.data.file, parsed.data);
  };
  const lists = readdirSync(FILE_COSTS_DIR).filter((name) => name.startsWith('worker-') && name.endsWith('.jsonl'));
  for (const value of readJson(COSTS_FILE)) keep(value);
  for (const list of lists) {
    for (const line of readFileSync(join(FILE_COSTS_DIR, list), 'utf8').split('\n')) {
      if (line !== '') keep(parseLine(line));
    }
  }
  writeFileSync(COSTS_FILE, JSON.stringify([...latest.values()]));
  for (const list of lists) rmSync(join(FILE_COSTS_DIR, list), { force: true });
  return latest;
}

function readJson(file: string): unknown[] {
  if (!existsSync(file)) return [];
  const value = parseLine(readFileSync(file, 'utf8'));
  return Array.isArray(value) ? (value as unknown[]) : [];
}

function parseLine(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
