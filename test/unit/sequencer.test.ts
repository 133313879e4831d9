import { describe, expect, it } from 'vitest';
import type { FileCost } from '../kit/file-costs.ts';
import { spreadWaiting } from '../kit/sequencer.ts';

const cost = (wallMs: number, cpuMs: number): FileCost => ({ file: 'x', wallMs, cpuMs, at: 0 });

describe('Test order: files that mostly wait are spread among the busy ones', () => {
  const costs: Record<string, FileCost | undefined> = {
    'deadline-waits': cost(10_000, 900),
    'backoff-waits': cost(6_000, 1_000),
    'deploy-busy': cost(19_000, 11_000),
    'races-busy': cost(3_000, 2_900),
    'short-waits': cost(500, 10),
    unknown: undefined,
  };

  it('puts busy files between the waiting ones, keeping each group in its order', () => {
    const ordered = ['deploy-busy', 'deadline-waits', 'backoff-waits', 'races-busy', 'short-waits', 'unknown'];

    expect(spreadWaiting(ordered, (file) => costs[file], 2)).toEqual(['deadline-waits', 'deploy-busy', 'races-busy', 'backoff-waits', 'short-waits', 'unknown']);
  });

  it('counts a short file and a file without a known cost as busy, and keeps the order when none waits', () => {
    const ordered = ['unknown', 'short-waits', 'races-busy'];

    expect(spreadWaiting(ordered, (file) => costs[file], 2)).toEqual(ordered);
  });

  it('runs the waiting files one after the other once the busy ones are used up', () => {
    expect(spreadWaiting(['deadline-waits', 'backoff-waits', 'deploy-busy'], (file) => costs[file], 2)).toEqual(['deadline-waits', 'deploy-busy', 'backoff-waits']);
  });
});
