/**
 * The hostile-input catalog: every case names its category, the input, the refusal reason it
 * must get, and whether it reaches the ledger. The files print their counts per category.
 */
export const CATEGORIES = ['proof forgery', 'event shape', 'VIP and route abuse', 'SSM parameters', 'ordering', 'agent inputs'] as const;
export type Category = (typeof CATEGORIES)[number];

const counts = new Map<Category, number>();

/** Counts a case once, when it is declared. */
export function counted<T extends { category: Category }>(cases: T[]): T[] {
  for (const { category } of cases) counts.set(category, (counts.get(category) ?? 0) + 1);
  return cases;
}

/** One console line per file: `hostile catalog (file): proof forgery 27, ... (total 80)`. */
export function printCounts(file: string): void {
  const parts = CATEGORIES.filter((category) => counts.has(category)).map((category) => `${category} ${counts.get(category)}`);
  const total = [...counts.values()].reduce((sum, count) => sum + count, 0);
  console.log(`hostile catalog (${file}): ${parts.join(', ')} (total ${total})`);
}
