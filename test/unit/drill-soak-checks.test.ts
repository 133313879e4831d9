import { describe, expect, it } from 'vitest';
import { analyzeSequence, percentiles, type AppSample, type IfRun, type SequenceRecord, type WorldSample } from '../../drill/soak/checks.ts';
import { parseDrillOptions } from '../../drill/options.ts';
import { describeStep, planSequence } from '../../drill/soak/plan.ts';
import { timelineSvg } from '../../drill/soak/timeline-svg.ts';

const T0 = 1_800_000_000_000;
const s = (seconds: number): number => T0 + seconds * 1000;

/** A world sampled every 300 ms from `from` to `to` seconds, its state given per moment. */
function sampled(from: number, to: number, at: (seconds: number) => Omit<WorldSample, 't'>): WorldSample[] {
  const samples: WorldSample[] = [];
  for (let ms = from * 1000; ms <= to * 1000; ms += 300) samples.push({ t: T0 + ms, ...at(ms / 1000) });
  return samples;
}

function connects(from: number, to: number, ok: (seconds: number) => boolean): AppSample[] {
  const out: AppSample[] = [];
  for (let ms = from * 1000; ms <= to * 1000; ms += 50) out.push({ t: T0 + ms, ok: ok(ms / 1000) });
  return out;
}

const up = (node: string, start: number, end: number | null, code: number | null = 0): IfRun => ({
  node,
  action: 'up',
  startedAt: s(start),
  endedAt: end === null ? null : s(end),
  code,
  lastLine: code === 0 ? 'applied' : 'stale: refused',
});

/**
 * pgpool-1 leads until the drill kills it at 10 s; pgpool-2 escalates at 40 s (lifecheck), its
 * if_up_cmd runs from 40.5 s to 42 s, the route follows at 41.5 s.
 */
function failover(overrides: Partial<SequenceRecord> = {}): SequenceRecord {
  const leaderAt = (t: number): string | null => (t < 10 ? 'pgpool-1' : t < 40 ? null : 'pgpool-2');
  const samples = sampled(0, 80, (t) => ({
    leader: leaderAt(t),
    leaderSince: t < 10 ? s(-100) : t < 40 ? null : s(40),
    routes: [t < 41.5 ? 'pgpool-1' : 'pgpool-2', t < 41.6 ? 'pgpool-1' : 'pgpool-2'],
    vipOn: t < 41.5 ? ['pgpool-1'] : ['pgpool-2'],
  }));
  return {
    from: s(0),
    to: s(80),
    samples,
    routeChanges: [
      { at: s(41.5), table: 0, node: 'pgpool-2' },
      { at: s(41.6), table: 1, node: 'pgpool-2' },
    ],
    ifRuns: [up('pgpool-2', 40.5, 42)],
    app: connects(0, 80, (t) => t < 10 || t >= 41.6),
    ledger: [{ requestId: 'r1', node: 'pgpool-2', action: 'up', status: 'applied', actedOn: 1 }],
    fences: [],
    ...overrides,
  };
}

describe('the soak checks of one sequence', () => {
  it('pass a clean failover, and measure convergence from the leader if_up_cmd start', () => {
    const analysis = analyzeSequence(failover());
    expect(analysis.broken).toEqual([]);
    expect(analysis.epochs.map((epoch) => epoch.leader)).toEqual(['pgpool-1', 'pgpool-2']);
    expect(analysis.convergenceMs).toHaveLength(1);
    expect(analysis.convergenceMs[0]).toBeGreaterThanOrEqual(1000);
    expect(analysis.convergenceMs[0]).toBeLessThanOrEqual(1500);
    expect(analysis.checks.find((check) => check.check === 'no-flap')?.verdict).toBe('pass');
  });

  it('judge a leader that led before the sequence began only on fencing and route changes', () => {
    const checks = analyzeSequence(failover()).checks.filter((check) => check.subject.startsWith('leader pgpool-1'));
    expect(checks.map((check) => `${check.check} ${check.verdict}`)).toEqual(['fence pass', 'no-ping-pong pass']);
  });

  it('break convergence when the route stays on the old leader (the stranded VIP)', () => {
    const stranded = failover();
    stranded.samples = stranded.samples.map((sample) => ({ ...sample, routes: ['pgpool-1', 'pgpool-1'], vipOn: [] }));
    stranded.ifRuns = [up('pgpool-2', 40.5, 42, 1)];
    stranded.routeChanges = [];
    const broken = analyzeSequence(stranded).broken.map((check) => check.check);
    expect(broken).toContain('converge');
    expect(broken).toContain('leader-up-exit');
  });

  it('break leader-up-exit when a second if_up_cmd of the leader (a re-acquire) exits 1, even though the VIP is in place', () => {
    const record = failover();
    record.ifRuns = [up('pgpool-2', 40.5, 42), up('pgpool-2', 40.6, 55, 1)];
    const check = analyzeSequence(record).broken.find((entry) => entry.check === 'leader-up-exit');
    expect(check?.detail).toMatch(/^1 of 2: .*exited 1/);
  });

  it('break convergence when pgpool names the isolated old leader again after the heal and the VIP stays lost (stranded)', () => {
    const leaderAt = (t: number): string => (t < 40 || t >= 50 ? 'pgpool-1' : 'pgpool-2');
    const record = failover({
      samples: sampled(0, 80, (t) => ({
        leader: leaderAt(t),
        leaderSince: leaderAt(t) === 'pgpool-1' ? s(-100) : s(40),
        routes: [t < 41.5 ? 'pgpool-1' : 'pgpool-2', t < 41.5 ? 'pgpool-1' : 'pgpool-2'],
        vipOn: t < 41.5 ? ['pgpool-1'] : t < 52 ? ['pgpool-2'] : [],
      })),
      routeChanges: [
        { at: s(41.5), table: 0, node: 'pgpool-2' },
        { at: s(41.5), table: 1, node: 'pgpool-2' },
      ],
      ifRuns: [up('pgpool-2', 40.5, 42), up('pgpool-1', 42, 44, 1)],
      app: connects(0, 80, (t) => t < 40 || (t >= 42 && t < 52)),
    });
    const analysis = analyzeSequence(record);
    expect(analysis.epochs.map((epoch) => epoch.leader)).toEqual(['pgpool-1', 'pgpool-2', 'pgpool-1']);
    const broken = analysis.broken.find((check) => check.check === 'converge');
    expect(broken?.subject).toBe('leader pgpool-1 from +50.1s');
    expect(broken?.detail).toMatch(/named pgpool-1 leader again/);
  });

  it('break no-ping-pong when the route goes back and forth under one leader', () => {
    const record = failover({
      routeChanges: [
        { at: s(41.5), table: 0, node: 'pgpool-2' },
        { at: s(50), table: 0, node: 'pgpool-1' },
        { at: s(55), table: 0, node: 'pgpool-2' },
      ],
    });
    const check = analyzeSequence(record).broken.find((entry) => entry.check === 'no-ping-pong');
    expect(check?.detail).toMatch(/3 route change/);
  });

  it('wait for the fence the SSM agents run after the controller answered, then break fence if the VIP stays', () => {
    const record = failover({ fences: [{ node: 'pgpool-2', sentAt: s(41), doneAt: s(44) }] });
    // The old node still has the VIP until 44.5 s: fenced at 44 s, so within the grace second.
    record.samples = record.samples.map((sample) => (sample.t >= s(41.5) && sample.t <= s(44.5) ? { ...sample, vipOn: ['pgpool-1', 'pgpool-2'] } : sample));
    expect(analyzeSequence(record).broken).toEqual([]);
    record.samples = record.samples.map((sample) => (sample.t >= s(41.5) && sample.t <= s(47) ? { ...sample, vipOn: ['pgpool-1', 'pgpool-2'] } : sample));
    expect(analyzeSequence(record).broken.map((check) => check.check)).toEqual(['fence']);
  });

  it('break fence when the VIP stays on the crashed node after the new leader was given it', () => {
    const record = failover();
    record.samples = record.samples.map((sample) => (sample.t >= s(41.5) ? { ...sample, vipOn: ['pgpool-1', 'pgpool-2'] } : sample));
    expect(analyzeSequence(record).broken.map((check) => check.check)).toEqual(['fence']);
  });

  it('break no-flap when the route moves while no leader has quorum', () => {
    const record = failover({
      routeChanges: [
        { at: s(20), table: 0, node: null },
        { at: s(25), table: 0, node: 'pgpool-1' },
        { at: s(41.5), table: 0, node: 'pgpool-2' },
      ],
    });
    const flap = analyzeSequence(record).checks.find((check) => check.check === 'no-flap');
    expect(flap?.verdict).toBe('broken');
    expect(flap?.subject).toMatch(/no leader with quorum/);
  });

  it('break the ledger check for a request left claimed or acted on twice', () => {
    const record = failover({
      ledger: [
        { requestId: 'r1', node: 'pgpool-2', action: 'up', status: 'claimed', actedOn: 0 },
        { requestId: 'r2', node: 'pgpool-1', action: 'down', status: 'noop', actedOn: 2 },
      ],
    });
    const ledger = analyzeSequence(record).broken.find((check) => check.check === 'ledger');
    expect(ledger?.detail).toMatch(/r1.*claimed/);
    expect(ledger?.detail).toMatch(/r2.*acted on 2 times/);
  });

  it('do not judge convergence of a leadership the next fault ended within 15 s', () => {
    const record = failover();
    record.to = s(50);
    record.samples = record.samples.filter((sample) => sample.t <= s(45)).concat(sampled(45.3, 50, () => ({ leader: null, leaderSince: null, routes: ['pgpool-1', 'pgpool-1'], vipOn: [] })));
    record.samples = record.samples.map((sample) => (sample.t >= s(40) && sample.t <= s(45) ? { ...sample, routes: ['pgpool-1', 'pgpool-1'], vipOn: [] } : sample));
    record.routeChanges = [];
    record.ifRuns = [up('pgpool-2', 40.5, null, null)];
    const converge = analyzeSequence(record).checks.find((check) => check.check === 'converge');
    expect(converge?.verdict).toBe('n/a');
  });
});

describe('the soak plan', () => {
  it('draws the same steps for the same seed, and other steps for another', () => {
    expect(planSequence(42, 0)).toEqual(planSequence(42, 0));
    expect(planSequence(42, 0).steps).not.toEqual(planSequence(43, 0).steps);
    expect(planSequence(42, 0).steps).not.toEqual(planSequence(42, 1).steps);
    expect(planSequence(42, 3).steps).toHaveLength(3);
  });

  it('keeps two failures 0-40 s apart and draws every kind of step over a few sequences', () => {
    const steps = Array.from({ length: 40 }, (_, index) => planSequence(7, index).steps).flat();
    expect(new Set(steps.map((step) => step.kind)).size).toBe(5);
    for (const step of steps) {
      if (step.kind === 'two-failures') {
        expect(step.gapSeconds).toBeGreaterThanOrEqual(0);
        expect(step.gapSeconds).toBeLessThanOrEqual(40);
      }
      expect(describeStep(step)).not.toBe('');
    }
  });

  it('summarises convergence times with the median and the 95th percentile', () => {
    expect(percentiles([5, 1, 3, 2, 4])).toEqual({ n: 5, medianMs: 3, p95Ms: 5, maxMs: 5 });
    expect(percentiles([])).toEqual({ n: 0, medianMs: null, p95Ms: null, maxMs: null });
  });
});

describe('the drill flags', () => {
  it('default to the scenarios on pgpool 4.3', () => {
    expect(parseDrillOptions([], '/repo')).toEqual({ pgpool: '4.3', latency: 'moto', address: 'ssm', provisioned: 0, soak: null });
  });

  it('take a soak with its seed, script, pgpool version and output folder', () => {
    expect(parseDrillOptions(['--soak', '3', '--seed=12', '--pgpool', '4.7', '--script', 'article'], '/repo')).toEqual({
      pgpool: '4.7',
      latency: 'moto',
      address: 'ssm',
      provisioned: 0,
      soak: { sequences: 3, seed: 12, seedGiven: true, script: 'article', out: '/repo' },
    });
    const random = parseDrillOptions(['--soak', '1'], '/repo').soak;
    expect(random?.seedGiven).toBe(false);
    expect(random?.script).toBe('pgpool-vip');
  });

  it('refuse what they do not know, with the reason', () => {
    expect(() => parseDrillOptions(['--soak', '0'], '/repo')).toThrow(/--soak/);
    expect(() => parseDrillOptions(['--soak', '2', '--seed', '-1'], '/repo')).toThrow(/seed/);
    expect(() => parseDrillOptions(['--pgpool', '4.4'], '/repo')).toThrow(/--pgpool/);
    expect(() => parseDrillOptions(['--latency', 'lan'], '/repo')).toThrow(/--latency/);
    expect(() => parseDrillOptions(['--seed', '3'], '/repo')).toThrow(/belong to --soak/);
    expect(() => parseDrillOptions(['--soak'], '/repo')).toThrow(/needs a value/);
    expect(() => parseDrillOptions(['--fast', '1'], '/repo')).toThrow(/unknown flag: --fast/);
    expect(() => parseDrillOptions(['soak'], '/repo')).toThrow(/unexpected argument/);
  });
});

describe('the timeline picture', () => {
  it('shows the leader, every route table, the VIP per node, the app and the broken checks', () => {
    const record = failover();
    const analysis = analyzeSequence({ ...record, routeChanges: [...record.routeChanges, { at: s(50), table: 0, node: 'pgpool-1' }, { at: s(55), table: 0, node: 'pgpool-2' }] });
    const svg = timelineSvg({ title: 'seed 1 <test>', record, nodes: ['pgpool-1', 'pgpool-2', 'pgpool-3'], marks: [{ at: s(10), text: 'kill -9 pgpool-1 (leader)' }], broken: analysis.broken });
    for (const lane of ['pgpool leader', 'route table 1', 'route table 2', 'VIP on pgpool-3', 'app connects']) expect(svg).toContain(`>${lane}<`);
    expect(svg).toContain('seed 1 &lt;test&gt;');
    expect(svg).toContain('kill -9 pgpool-1 (leader)');
    expect(svg).toContain('fill="red"');
  });
});
