import type { AppSample, CheckResult, SequenceRecord } from './checks.ts';

/** A drill action (fault, restart, isolation, heal) at a moment of the sequence. */
export interface StepMark {
  at: number;
  text: string;
}

const NODE_COLOURS: Record<string, string> = { 'pgpool-1': '#1f77b4', 'pgpool-2': '#ff7f0e', 'pgpool-3': '#2ca02c' };
const NONE = '#d0d0d0';
const colour = (node: string | null): string => (node === null ? NONE : (NODE_COLOURS[node] ?? '#9467bd'));
const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * The sequence as a picture: one lane for the leader pgpool names, one per route table, one per
 * node for "VIP on its interface", and one for the app host's connects; drill actions as dashed
 * lines, broken checks as red marks. Time runs left to right, in seconds from the sequence start.
 */
export function timelineSvg(options: {
  title: string;
  record: SequenceRecord;
  nodes: readonly string[];
  marks: readonly StepMark[];
  broken: readonly CheckResult[];
}): string {
  const { record, nodes, marks, broken } = options;
  const width = 1400;
  const left = 150;
  const right = 20;
  const laneHeight = 22;
  const gap = 8;
  const span = Math.max(1, record.to - record.from);
  const x = (t: number): number => left + ((Math.min(Math.max(t, record.from), record.to) - record.from) / span) * (width - left - right);
  const lanes: Array<{ label: string; segments: Array<{ from: number; to: number; fill: string; title: string }> }> = [];

  const segmentsOf = (value: (index: number) => string | null): Array<{ from: number; to: number; fill: string; title: string }> => {
    const out: Array<{ from: number; to: number; fill: string; title: string }> = [];
    record.samples.forEach((sample, index) => {
      const next = record.samples[index + 1];
      const node = value(index);
      const to = next?.t ?? record.to;
      const last = out[out.length - 1];
      if (last !== undefined && last.title === (node ?? 'none') && Math.abs(last.to - sample.t) < 1) last.to = to;
      else out.push({ from: sample.t, to, fill: colour(node), title: node ?? 'none' });
    });
    return out;
  };

  lanes.push({ label: 'pgpool leader', segments: segmentsOf((index) => record.samples[index]?.leader ?? null) });
  const tables = Math.max(1, ...record.samples.map((sample) => sample.routes.length));
  for (let table = 0; table < tables; table += 1) {
    lanes.push({ label: `route table ${table + 1}`, segments: segmentsOf((index) => record.samples[index]?.routes[table] ?? null) });
  }
  for (const node of nodes) {
    lanes.push({
      label: `VIP on ${node}`,
      segments: segmentsOf((index) => (record.samples[index]?.vipOn.includes(node) ? node : null)),
    });
  }
  lanes.push({ label: 'app connects', segments: appSegments(record.app, record.to) });

  const top = 50;
  const height = top + lanes.length * (laneHeight + gap) + 40 + marks.length * 14;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(`<text x="10" y="20" font-size="14" font-weight="bold">${escape(options.title)}</text>`);
  const legend = nodes.map((node, index) => `<rect x="${left + index * 110}" y="28" width="12" height="12" fill="${colour(node)}"/><text x="${left + index * 110 + 16}" y="38">${escape(node)}</text>`);
  parts.push(...legend, `<rect x="${left + nodes.length * 110}" y="28" width="12" height="12" fill="${NONE}"/><text x="${left + nodes.length * 110 + 16}" y="38">none</text>`);
  lanes.forEach((lane, index) => {
    const y = top + index * (laneHeight + gap);
    parts.push(`<text x="10" y="${y + 15}">${escape(lane.label)}</text>`);
    for (const segment of lane.segments) {
      const x1 = x(segment.from);
      const w = Math.max(0.5, x(segment.to) - x1);
      parts.push(`<rect x="${x1.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${laneHeight}" fill="${segment.fill}"><title>${escape(segment.title)}</title></rect>`);
    }
  });
  const bottom = top + lanes.length * (laneHeight + gap);
  // Seconds axis: about 15 ticks, on a round step.
  const step = [5, 10, 20, 30, 60, 120, 300].find((candidate) => span / 1000 / candidate <= 15) ?? 600;
  for (let s = 0; s <= span / 1000; s += step) {
    const tx = x(record.from + s * 1000);
    parts.push(`<line x1="${tx.toFixed(1)}" y1="${bottom}" x2="${tx.toFixed(1)}" y2="${bottom + 5}" stroke="black"/><text x="${tx.toFixed(1)}" y="${bottom + 17}" text-anchor="middle">${s}s</text>`);
  }
  marks.forEach((mark, index) => {
    const mx = x(mark.at);
    parts.push(`<line x1="${mx.toFixed(1)}" y1="${top - 5}" x2="${mx.toFixed(1)}" y2="${bottom}" stroke="black" stroke-dasharray="4,3"/>`);
    // Labels in the right half end at their line, so none runs off the picture.
    const anchor = mx > (left + width) / 2 ? 'end' : 'start';
    parts.push(`<text x="${mx.toFixed(1)}" y="${bottom + 34 + index * 14}" text-anchor="${anchor}">${escape(`${((mark.at - record.from) / 1000).toFixed(1)}s ${mark.text}`)}</text>`);
  });
  for (const check of broken) {
    const bx = x(check.at);
    parts.push(`<path d="M ${(bx - 6).toFixed(1)} ${top - 12} L ${(bx + 6).toFixed(1)} ${top - 12} L ${bx.toFixed(1)} ${top - 2} Z" fill="red"><title>${escape(`${check.check}: ${check.subject}: ${check.detail}`)}</title></path>`);
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function appSegments(app: readonly AppSample[], end: number): Array<{ from: number; to: number; fill: string; title: string }> {
  const out: Array<{ from: number; to: number; fill: string; title: string }> = [];
  const sorted = [...app].sort((a, b) => a.t - b.t);
  sorted.forEach((sample, index) => {
    const to = sorted[index + 1]?.t ?? end;
    const title = sample.ok ? 'connects' : 'fails';
    const last = out[out.length - 1];
    if (last !== undefined && last.title === title) last.to = to;
    else out.push({ from: sample.t, to, fill: sample.ok ? '#4caf50' : '#e53935', title });
  });
  return out;
}
