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
  /** What the AWS calls cost: moto as it answers, or the AWS latency model. */
  latency?: string;
  /** Who put the VIP on pgpool-vip's new leader: SSM Run Command, or the agent (the local fast path). */
  address?: 'ssm' | 'local';
  /** The switchover function's provisioned concurrency under the latency model (0: a cold init every time). */
  provisioned?: number;
  /** The latency model's median SSM delivery (an assumption of the profile), when it has one. */
  ssmDeliveryP50Ms?: number;
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

/** pgpool-vip's name in the table, with who adds the VIP when that is the agent. */
export function productLabel(report: Pick<DrillReport, 'address'>): string {
  return report.address === 'local' ? `${PRODUCT} (local add)` : PRODUCT;
}

/**
 * The side-by-side table: scenario x {article script, pgpool-vip}: blackout, the blackout after
 * if_up_cmd started (the blackout minus pgpool's own detection and election), if_up time, verdict.
 */
export function summaryTable(report: DrillReport): string {
  const baseline = report.flavours[BASELINE] ?? [];
  const product = report.flavours[PRODUCT] ?? [];
  const ids = [...new Set([...baseline, ...product].map((result) => result.id))].sort();
  const rows: string[][] = [
    ['scenario', `${BASELINE}: blackout`, 'after if_up start', 'if_up', 'verdict', `${productLabel(report)}: blackout`, 'after if_up start', 'if_up', 'verdict'],
  ];
  for (const id of ids) {
    const b = baseline.find((result) => result.id === id);
    const p = product.find((result) => result.id === id);
    rows.push([
      `${id} ${(p ?? b)?.name ?? ''}`,
      blackoutText(b),
      seconds(b?.afterIfUpMs ?? null),
      seconds(b?.ifUpMs ?? null),
      b?.verdict ?? '-',
      blackoutText(p),
      seconds(p?.afterIfUpMs ?? null),
      seconds(p?.ifUpMs ?? null),
      p?.verdict ?? '-',
    ]);
  }
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  const line = (row: string[]): string => `| ${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`;
  const header = rows[0] ?? [];
  return [line(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? null) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/**
 * Medians over the scenarios that ran an if_up_cmd, per script, and pgpool-vip's ratio to the
 * article's script in the same run: the figures the speed goals are stated in.
 */
export function summaryFigures(report: DrillReport): string {
  const figures = (results: readonly ScenarioResult[]) => {
    const ifUp = results.flatMap((result) => (result.ifUpMs === null ? [] : [result.ifUpMs]));
    const after = results.flatMap((result) => (result.afterIfUpMs === null ? [] : [result.afterIfUpMs]));
    return { ifUp: median(ifUp), ifUpN: ifUp.length, after: median(after), afterN: after.length };
  };
  const baseline = figures(report.flavours[BASELINE] ?? []);
  const product = figures(report.flavours[PRODUCT] ?? []);
  const line = (name: string, f: ReturnType<typeof figures>): string =>
    `${name}: if_up_cmd median ${seconds(f.ifUp)} (n=${f.ifUpN}); blackout after if_up start median ${seconds(f.after)} (n=${f.afterN})`;
  const ratio = product.ifUp !== null && baseline.ifUp !== null && baseline.ifUp > 0 ? (product.ifUp / baseline.ifUp).toFixed(2) : '-';
  const provisioned = report.provisioned === undefined || report.latency !== 'aws' ? '' : report.provisioned === 0 ? ' (a cold init on every invocation)' : ` (provisioned concurrency ${report.provisioned})`;
  const sensitivity = ssmSensitivity(report, baseline.ifUp);
  return [
    `latency: ${report.latency ?? 'moto'}${provisioned}; VIP added by ${report.address === 'local' ? "pgpool-vip's agent (local fast path)" : 'SSM Run Command'}`,
    line(BASELINE, baseline),
    line(productLabel(report), product),
    `if_up_cmd median, ${productLabel(report)} / ${BASELINE}: ${ratio}`,
    ...(sensitivity === null ? [] : [sensitivity]),
  ].join('\n');
}

/**
 * Where pgpool-vip's if_up_cmd in SSM mode meets the article's: its runs less the modelled SSM
 * delivery of their add are the chain the product controls (agent, bus, controller, the wait
 * after the add); with every add delivered in D, its median is that chain's median plus D, so it
 * is no slower than the article's median while D is at most their difference. Null when SSM
 * added nothing in this run (moto answers at once, or the local fast path).
 */
export function ssmSensitivity(report: DrillReport, baselineIfUpMs: number | null): string | null {
  const chains = (report.flavours[PRODUCT] ?? []).flatMap((result) =>
    result.ifUpMs === null || result.ssmAddDeliveryMs === undefined || result.ssmAddDeliveryMs === null ? [] : [result.ifUpMs - result.ssmAddDeliveryMs],
  );
  const deliveries = (report.flavours[PRODUCT] ?? []).flatMap((result) => (result.ssmAddDeliveryMs === undefined || result.ssmAddDeliveryMs === null ? [] : [result.ssmAddDeliveryMs]));
  const chain = median(chains);
  if (report.address === 'local' || report.latency !== 'aws' || chain === null || baselineIfUpMs === null) return null;
  const breakEven = baselineIfUpMs - chain;
  const assumed = report.ssmDeliveryP50Ms === undefined ? '' : `; the model assumes a median of ${seconds(report.ssmDeliveryP50Ms)}, ${breakEven >= report.ssmDeliveryP50Ms ? 'inside' : 'outside'} that bound`;
  const bound =
    breakEven <= 0
      ? `no SSM delivery is fast enough: the chain alone is ${seconds(-breakEven)} slower than the article's median`
      : `no slower than the article's median while SSM delivers the add in at most ${seconds(breakEven)}${assumed}`;
  return `SSM sensitivity: pgpool-vip's if_up_cmd less its add's SSM delivery (drawn median ${seconds(median(deliveries))}), median ${seconds(chain)} (n=${chains.length}): ${bound}`;
}

/** Per scenario: verdict, problems, notes and the timeline. */
export function scenarioDetails(results: readonly ScenarioResult[]): string {
  const parts: string[] = [];
  for (const result of results) {
    parts.push(`\n[${result.flavour}] scenario ${result.id}: ${result.name}: ${result.verdict.toUpperCase()}`);
    for (const note of result.notes) parts.push(`  note: ${note}`);
    for (const problem of result.problems) parts.push(`  problem: ${problem}`);
    parts.push(`  blackout: ${blackoutText(result)} (after if_up_cmd started: ${seconds(result.afterIfUpMs)}); if_up_cmd start -> exit: ${seconds(result.ifUpMs)}`);
    parts.push(...result.timeline);
  }
  return parts.join('\n');
}
