import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AWS_PROFILE_PATH,
  CALL_KINDS,
  HOOK_KINDS,
  latencyModel,
  latencyOption,
  readLatencyProfile,
} from '../../local/front-door/latency-profile.ts';
import { seededRandom } from '../../local/front-door/random.ts';

describe('latency profile of --latency aws', () => {
  const profile = readLatencyProfile(AWS_PROFILE_PATH);

  it('gives every call and hook a p50, a p99 and where the figure comes from', () => {
    for (const figure of [...CALL_KINDS.map((kind) => profile.calls[kind]), ...HOOK_KINDS.map((kind) => profile.hooks[kind])]) {
      expect(figure.p99Ms).toBeGreaterThanOrEqual(figure.p50Ms);
      expect(figure.source.length).toBeGreaterThan(20);
      if (figure.basis === 'assumption') expect(figure.source).toMatch(/^Not published/);
    }
  });

  it('draws delays whose median and 99th percentile are the profile\'s, within sampling error', () => {
    const model = latencyModel(profile, seededRandom(7));
    const draws = Array.from({ length: 20_000 }, () => model.hookDelayMs('eventbridge-delivery')).sort((a, b) => a - b);
    const { p50Ms, p99Ms } = profile.hooks['eventbridge-delivery'];

    expect(draws[10_000] as number).toBeGreaterThan(p50Ms * 0.95);
    expect(draws[10_000] as number).toBeLessThan(p50Ms * 1.05);
    expect(draws[19_800] as number).toBeGreaterThan(p99Ms * 0.9);
    expect(draws[19_800] as number).toBeLessThan(p99Ms * 1.1);
    expect(draws.at(-1) as number).toBeLessThanOrEqual(p99Ms * profile.jitter.capFactor);
  });

  it('repeats the same delays from the same seed', () => {
    const first = latencyModel(profile, seededRandom(42));
    const second = latencyModel(profile, seededRandom(42));

    expect([1, 2, 3].map(() => first.callDelayMs('ec2-write'))).toEqual([1, 2, 3].map(() => second.callDelayMs('ec2-write')));
  });
});

describe('latency profile files and the --latency option', () => {
  const write = (content: unknown): string => {
    const path = join(mkdtempSync(join(tmpdir(), 'latency-')), 'profile.json');
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };

  it('refuses a figure without a source, naming the field', () => {
    const profile = readLatencyProfile(AWS_PROFILE_PATH);
    const broken = { ...profile, calls: { ...profile.calls, sts: { p50Ms: 25, p99Ms: 100, basis: 'assumption' } } };

    expect(() => readLatencyProfile(write(broken))).toThrow(/calls\.sts\.source/);
  });

  it('refuses a p99 below the p50, and a file that is not JSON', () => {
    const profile = readLatencyProfile(AWS_PROFILE_PATH);
    const inverted = { ...profile, hooks: { ...profile.hooks, 'ssm-delivery': { ...profile.hooks['ssm-delivery'], p99Ms: 1 } } };

    expect(() => readLatencyProfile(write(inverted))).toThrow(/p99Ms must not be below p50Ms/);
    expect(() => readLatencyProfile(write('{ nope'))).toThrow(/cannot be read/);
  });

  it.each([
    [[], 'moto'],
    [['--latency', 'aws'], 'aws'],
    [['--soak', '3', '--latency=moto'], 'moto'],
  ] as const)('reads %j as %s', (argv, choice) => {
    expect(latencyOption(argv)).toBe(choice);
  });

  it.each([[['--latency']], [['--latency', '--soak']], [['--latency', 'azure']]] as const)('refuses %j', (argv) => {
    expect(() => latencyOption(argv)).toThrow(/--latency/);
  });
});
