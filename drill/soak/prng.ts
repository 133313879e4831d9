import { seededRandom as uniform } from '../../local/front-door/random.ts';

/**
 * Draws for the soak from the project's seeded source (mulberry32): the same seed draws the same
 * steps on every machine and for both scripts, so a failing sequence can be run again.
 */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
}

export function seededRandom(seed: number): Random {
  const next = uniform(seed);
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => {
      const item = items[Math.floor(next() * items.length)];
      if (item === undefined) throw new Error('pick from an empty list');
      return item;
    },
  };
}

/** The seed of sequence `index` of a soak: independent of the other sequences' draws. */
export function sequenceSeed(soakSeed: number, index: number): number {
  return (Math.imul(soakSeed >>> 0, 2654435761) + Math.imul(index + 1, 0x9e3779b9)) >>> 0;
}

export const MAX_SEED = 0xffffffff;
