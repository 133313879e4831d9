import { cpus, release } from 'node:os';
import type { ScenarioResult } from './scenarios.ts';

export interface DrillReport {
  machine: { cpu: string; cpus: number; kernel: string; node: string };
  startedAt: string;
  durationMs: number;
  /** `pgpool --version` of the nodes. */
  pgpool: string;
  flavours: Record<string, ScenarioResult[]>;
  passed: boolean;
}

export const PRODUCT = 'pgpool-vip';
export const BASELINE = 'article script';

export function machine(): DrillReport['machine'] {
  return { cpu: cpus()[0]?.model ?? 'unknown', cpus: cpus().length, kernel: release(), node: process.version };
}

function seconds(ms: number | null): string {
  return ms === null ? '-' : `${(ms / 1000).toFixed(2)} s`;
}

function blackoutText(result: ScenarioResult | undefined): string {
  if (result === undefined) return '-';
  if (result.verdict === 'n/a') return 'n/a';
  if (result.blackouts.length === 0) return 'none';
  if (result.blackoutMs === null) {
    const open = result.blackouts.find((blackout) => blackout.ms === null);
    const since = open === undefined ? 0 : (result.endedAt - open.from) / 1000;
    return `LOST (${since.toFixed(1)} s, never back)`;
  }
  return seconds(result.blackoutMs);
}

/** The side-by-side table: scenario x {article script, pgpool-vip}: blackout, if_up time, verdict. */
export function summaryTable(report: DrillReport): string {
  const baseline = report.flavours[BASELINE] ?? [];
  const product = report.flavours[PRODUCT] ?? [];
  const ids = [...new Set([...baseline, ...product].map((result) => result.id))].sort();
  const rows: string[][] = [
    ['scenario', `${BASELINE}: blackout`, 'if_up', 'verdict', `${PRODUCT}: blackout`, 'if_up', 'verdict'],
  ];
  for (const id of ids) {
    const b = baseline.find((result) => result.id === id);
    const p = product.find((result) => result.id === id);
    rows.push([
      `${id} ${(p ?? b)?.name ?? ''}`,
      blackoutText(b),
      seconds(b?.ifUpMs ?? null),
      b?.verdict ?? '-',
      blackoutText(p),
      seconds(p?.ifUpMs ?? null),
      p?.verdict ?? '-',
    ]);
  }
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  const line = (row: string[]): string => `| ${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`;
  const header = rows[0] ?? [];
  return [line(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

/** Per scenario: verdict, problems, notes and the timeline. */
export function scenarioDetails(results: readonly ScenarioResult[]): string {
  const parts: string[] = [];
  for (const result of results) {
    parts.push(`\n[${result.flavour}] scenario ${result.id}: ${result.name}: ${result.verdict.toUpperCase()}`);
    for (const note of result.notes) parts.push(`  note: ${note}`);
    for (const problem of result.problems) parts.push(`  problem: ${problem}`);
    parts.push(`  blackout: ${blackoutText(result)}; if_up_cmd start -> exit: ${seconds(result.ifUpMs)}`);
    parts.push(...result.timeline);
  }
  return parts.join('\n');
}
