import { describe, expect, it } from 'vitest';
import { parseDrillOptions } from '../../drill/options.ts';
import { summaryFigures, summaryTable, type DrillReport } from '../../drill/report.ts';
import { blackoutAfter, type ScenarioResult } from '../../drill/scenarios.ts';

describe('the drill flag --address', () => {
  it('chooses who puts the VIP on pgpool-vip\'s new leader: SSM by default, or the agent', () => {
    expect(parseDrillOptions(['--latency', 'aws', '--address', 'local'], '/repo')).toEqual({ pgpool: '4.3', latency: 'aws', address: 'local', soak: null });
    expect(parseDrillOptions([], '/repo').address).toBe('ssm');
  });

  it('refuses another value, and the fast path in a soak', () => {
    expect(() => parseDrillOptions(['--address', 'agent'], '/repo')).toThrow(/--address/);
    expect(() => parseDrillOptions(['--soak', '2', '--address', 'local'], '/repo')).toThrow('--address local is for the scenarios; the soak runs with SSM');
  });
});

describe('Function: blackoutAfter', () => {
  it('counts only the part of each blackout after if_up_cmd started: the blackout minus pgpool\'s election', () => {
    const found = [
      { from: 1000, to: 5000, ms: 4000, failures: 80 },
      { from: 9000, to: 9200, ms: 200, failures: 4 },
    ];
    expect(blackoutAfter(found, 4000)).toBe(1000 + 200);
    expect(blackoutAfter(found, 500)).toBe(4000 + 200);
    expect(blackoutAfter(found, 9500)).toBe(0);
  });

  it('is null while a blackout never ended', () => {
    expect(blackoutAfter([{ from: 1000, to: null, ms: null, failures: 3 }], 500)).toBeNull();
  });
});

function scenario(flavour: string, id: number, ifUpMs: number | null, afterIfUpMs: number | null): ScenarioResult {
  return { id, name: `s${id}`, flavour, verdict: 'pass', problems: [], notes: [], blackoutMs: afterIfUpMs, blackouts: [], ifUpMs, afterIfUpMs, startedAt: 0, endedAt: 1, timeline: [] };
}

describe('Function: summaryFigures', () => {
  const report: DrillReport = {
    machine: { cpu: 'x', cpus: 2, kernel: '6', node: 'v20' },
    startedAt: '2026-11-30T00:00:00.000Z',
    durationMs: 1,
    pgpool: 'pgpool-II version 4.3.5',
    passed: true,
    latency: 'aws',
    address: 'local',
    flavours: {
      'article script': [scenario('article script', 1, 2000, 1500), scenario('article script', 2, 3000, 2500), scenario('article script', 5, null, null)],
      'pgpool-vip': [scenario('pgpool-vip', 1, 1000, 500), scenario('pgpool-vip', 2, 1400, 700), scenario('pgpool-vip', 3, 1200, 600)],
    },
  };

  it('gives each script\'s medians over the scenarios that ran if_up_cmd, and the ratio of the medians', () => {
    expect(summaryFigures(report).split('\n')).toEqual([
      "latency: aws; VIP added by pgpool-vip's agent (local fast path)",
      'article script: if_up_cmd median 2.50 s (n=2); blackout after if_up start median 2.00 s (n=2)',
      'pgpool-vip (local add): if_up_cmd median 1.20 s (n=3); blackout after if_up start median 0.60 s (n=3)',
      'if_up_cmd median, pgpool-vip (local add) / article script: 0.48',
    ]);
  });

  it('names the mode in the table header', () => {
    expect(summaryTable(report).split('\n')[0]).toContain('pgpool-vip (local add): blackout');
  });
});
