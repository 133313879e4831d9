// Fault matrix: every AWS call on the controller's up and down paths x each fault, through the
// front door in front of moto, with the controller's production retry settings. Each cell runs
// node 1 up, node 2 up (takeover), node 2 down; a failed request is sent again, as the agent
// does. Prints call x fault -> result. FAULTS_PERSISTENCE=once|always|both (default both):
// once = the first matching call fails; always = every matching call fails until the request
// has failed once. Prints numbers; asserts nothing.
import { startAwsFrontDoor } from '../local/front-door/front-door.ts';
import { startMotoServer } from '../local/moto-server.ts';
import type { World } from '../local/world.ts';
import { allCells, MATRIX_FAULTS, runCell, SSM_COMMAND_FAULTS, type CellResult, type MatrixCell } from '../local/harness/fault-matrix.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
const persistences: Array<MatrixCell['persistence']> =
  process.env.FAULTS_PERSISTENCE === 'once' ? ['once'] : process.env.FAULTS_PERSISTENCE === 'always' ? ['always'] : ['once', 'always'];
const only = process.env.FAULTS_ONLY ?? '';

/** One short word per cell: ok, ok+N (N more sends by the agent), or what broke. */
function verdict(result: CellResult): string {
  if (!result.ok) {
    const problem = result.problems[0] ?? '';
    if (/still claimed|ledger says claimed/.test(problem)) return 'STUCK-CLAIMED';
    if (/never injected/.test(problem)) return 'n/a';
    return 'FAIL';
  }
  const resends = result.outcomes.reduce((sum, outcome) => sum + outcome.sends - 1, 0);
  return resends === 0 ? 'ok' : `ok+${resends}`;
}

const moto = await startMotoServer();
const door = await startAwsFrontDoor({ host: '127.0.0.1', motoEndpoint: moto.endpoint });
const failures: CellResult[] = [];
const started = performance.now();
let cells = 0;
try {
  let world: World | undefined;
  const faults = [...MATRIX_FAULTS, ...SSM_COMMAND_FAULTS];
  for (const persistence of persistences) {
    console.log(`\nfault matrix, persistence "${persistence}" (ok+N: the agent sent a failed request N more times; STUCK-CLAIMED: no outcome until the claim lease ends)`);
    console.log(`  ${'call (role) path'.padEnd(58)} ${faults.map((fault) => fault.padEnd(18)).join('')}  max request ms`);
    // A row is printed as soon as its cells are done (cells come row by row).
    const printRow = (row: string, results: Map<string, CellResult>) => {
      const maxMs = Math.max(...[...results.values()].flatMap((result) => result.outcomes.map((outcome) => outcome.totalMs)));
      console.log(`  ${row.padEnd(58)} ${faults.map((fault) => (results.has(fault) ? verdict(results.get(fault) as CellResult) : '-').padEnd(18)).join('')}  ${maxMs.toFixed(0).padStart(6)}`);
    };
    let current: { row: string; results: Map<string, CellResult> } | null = null;
    for (const cell of allCells(persistence).filter((candidate) => `${candidate.call.service}:${candidate.call.operation}`.includes(only))) {
      const row = `${cell.call.service}:${cell.call.operation} (${cell.call.role}) ${cell.path}`;
      if (current !== null && current.row !== row) printRow(current.row, current.results);
      if (current === null || current.row !== row) current = { row, results: new Map<string, CellResult>() };
      const result = await runCell(moto.endpoint, door, cell, world);
      world = result.world;
      cells += 1;
      current.results.set(cell.fault, result);
      if (!result.ok) failures.push(result);
    }
    if (current !== null) printRow(current.row, current.results);
  }
} finally {
  await door.stop();
  await moto.stop();
}
console.log(`\n${cells} cells in ${((performance.now() - started) / 1000).toFixed(0)} s; ${failures.length} did not end as a run without faults`);
for (const failure of failures) {
  console.log(`  ${failure.cell.call.service}:${failure.cell.call.operation} ${failure.cell.path} ${failure.cell.fault} ${failure.cell.persistence}: ${failure.problems.join(' | ')}`);
  for (const line of failure.trace) console.log(`      ${line}`);
}
