import { describe, expect, it } from 'vitest';
import { parseDrillOptions } from '../../drill/options.ts';
import { ssmSensitivity, summaryFigures, summaryTable, type DrillReport } from '../../drill/report.ts';
import { blackoutAfter, type ScenarioResult } from '../../drill/scenarios.ts';

describe('the drill flag --address', () => {
  it('chooses who puts the VIP on pgpool-vip\'s new leader: SSM by default, or the agent', () => {
    expect(parseDrillOptions(['--latency', 'aws', '--address', 'local'], '/repo')).toEqual({ pgpool: '4.3', latency: 'aws', address: 'local', provisioned: 0, soak: null });
    expect(parseDrillOptions([], '/repo').address).toBe('ssm');
  });

  it('refuses another value, and the fast path in a soak', () => {
    expect(() => parseDrillOptions(['--address', 'agent'], '/repo')).toThrow(/--address/);
    expect(() => parseDrillOptions(['--soak', '2', '--address', 'local'], '/repo')).toThrow('--address local is for the scenarios; the soak runs with SSM');
  });
});

describe('the drill flag --provisioned', () => {
  it("models the stage's provisioned concurrency under the AWS latency model: none by default", () => {
    expect(parseDrillOptions(['--latency', 'aws', '--provisioned', '1'], '/repo').provisioned).toBe(1);
    expect(parseDrillOptions(['--latency', 'aws'], '/repo').provisioned).toBe(0);
  });

  it('refuses a value that is no whole number of environments, above the ceiling, or without the latency model', () => {
    expect(() => parseDrillOptions(['--latency', 'aws', '--provisioned', '1.5'], '/repo')).toThrow('--provisioned: a whole number of environments');
    expect(() => parseDrillOptions(['--latency', 'aws', '--provisioned', '21'], '/repo')).toThrow(/--provisioned/);
    expect(() => parseDrillOptions(['--provisioned', '1'], '/repo')).toThrow('--provisioned models the cold init of --latency aws; under moto no cold init is modelled');
    expect(() => parseDrillOptions(['--soak', '2', '--latency', 'aws', '--provisioned', '1'], '/repo')).toThrow('--provisioned is for the scenarios; the soak runs without it');
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

/** A drill run's report under the AWS latency model with `flavours` and the fields `changes` names. */
function awsReport(flavours: DrillReport['flavours'], changes: Partial<DrillReport> = {}): DrillReport {
  return {
    machine: { cpu: 'x', cpus: 2, kernel: '6', node: 'v20' },
    startedAt: '2026-11-30T00:00:00.000Z',
    durationMs: 1,
    pgpool: 'pgpool-II version 4.3.5',
    passed: true,
    latency: 'aws',
    address: 'local',
    flavours,
    ...changes,
  };
}

describe('Function: summaryFigures', () => {
  const report = awsReport({
    'article script': [scenario('article script', 1, 2000, 1500), scenario('article script', 2, 3000, 2500), scenario('article script', 5, null, null)],
    'pgpool-vip': [scenario('pgpool-vip', 1, 1000, 500), scenario('pgpool-vip', 2, 1400, 700), scenario('pgpool-vip', 3, 1200, 600)],
  });

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

describe('Function: ssmSensitivity', () => {
  const withDelivery = (id: number, ifUpMs: number, ssmAddDeliveryMs: number): ScenarioResult => ({ ...scenario('pgpool-vip', id, ifUpMs, 0), ssmAddDeliveryMs });
  const report = (product: ScenarioResult[], changes: Partial<DrillReport> = {}): DrillReport =>
    awsReport({ 'pgpool-vip': product }, { address: 'ssm', provisioned: 0, ssmDeliveryP50Ms: 1500, ...changes });

  it("gives the SSM delivery up to which pgpool-vip's median if_up_cmd stays no slower than the article's: its chain less the delivery, against the article's median", () => {
    // Chains (if_up less delivery): 1.0, 1.2, 0.9 s -> median 1.0 s; the article's median 2.3 s.
    const product = [withDelivery(1, 2600, 1600), withDelivery(2, 2400, 1200), withDelivery(3, 3900, 3000)];

    expect(ssmSensitivity(report(product), 2300)).toBe(
      "SSM sensitivity: pgpool-vip's if_up_cmd less its add's SSM delivery (drawn median 1.60 s), median 1.00 s (n=3): no slower than the article's median while SSM delivers the add in at most 1.30 s; the model assumes a median of 1.50 s, outside that bound",
    );
    expect(ssmSensitivity(report(product), 2600)).toMatch(/at most 1\.60 s; the model assumes a median of 1\.50 s, inside that bound$/);
  });

  it('says when no delivery would be fast enough', () => {
    expect(ssmSensitivity(report([withDelivery(1, 3000, 1000)]), 1500)).toMatch(/no SSM delivery is fast enough: the chain alone is 0\.50 s slower than the article's median$/);
  });

  it('says nothing where SSM added nothing: the local fast path, moto, or no delivery recorded', () => {
    const product = [withDelivery(1, 2600, 1600)];

    expect(ssmSensitivity(report(product, { address: 'local' }), 2300)).toBeNull();
    expect(ssmSensitivity(report(product, { latency: 'moto' }), 2300)).toBeNull();
    expect(ssmSensitivity(report([scenario('pgpool-vip', 1, 2600, 0)]), 2300)).toBeNull();
  });

  it('is the last line of the figures, after the provisioned concurrency the run modelled', () => {
    const lines = summaryFigures(report([withDelivery(1, 2600, 1600)], { provisioned: 1, flavours: { 'pgpool-vip': [withDelivery(1, 2600, 1600)], 'article script': [scenario('article script', 1, 2300, 2000)] } })).split('\n');

    expect(lines[0]).toBe('latency: aws (provisioned concurrency 1); VIP added by SSM Run Command');
    expect(lines.at(-1)).toMatch(/^SSM sensitivity: .* at most 1\.30 s;/);
  });
});
