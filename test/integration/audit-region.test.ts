import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentBaseEnv, runAgent } from '../../local/agent-node.ts';
import { createHarness, type Harness } from '../../local/harness/controller-harness.ts';
import { startImdsServer, type ImdsServer } from '../../local/imds-server.ts';
import { envelope, signedDetail } from '../../local/requests.ts';
import type { WorldInstance } from '../../local/world.ts';
import { sharedMoto } from '../kit/moto.ts';
import { agentBundle, type AgentBundle } from '../kit/agent-bundle.ts';

// `pgpool-vip audit` on a node without --region, AWS_REGION or a region in the agent config: the
// region comes from IMDS, as for up, down, status and doctor. The bundled agent runs with an
// operator's credentials in its environment (moto's), never the instance role's. moto keeps
// each region's tables apart, so the region IMDS names decides whether the ledger is found.

let moto: ReturnType<typeof sharedMoto>;
let harness: Harness;
let bundle: AgentBundle;
const servers: ImdsServer[] = [];

beforeAll(async () => {
  moto = sharedMoto();
  bundle = await agentBundle();
  harness = await createHarness(moto.endpoint);
  const node = harness.world.instances[0] as WorldInstance;
  const detail = await signedDetail(harness.world, node, { action: 'up', stsEndpoint: moto.endpoint });
  // The whole result on a mismatch: its reason says which step failed.
  expect(await harness.invoke(envelope(detail, harness.world))).toMatchObject({ outcome: 'applied' });
});
afterAll(async () => {
  for (const server of servers) await server.stop();
  await moto?.stop();
  await bundle?.remove();
});

async function auditOnNodeIn(region: string) {
  const node = harness.world.instances[0] as WorldInstance;
  const imds = await startImdsServer({ instance: node, region, roleName: harness.world.roleName });
  servers.push(imds);
  const cluster = harness.world.config.clusters[0]?.name ?? '';
  const env = { ...agentBaseEnv(moto.endpoint, imds.endpoint), AWS_ACCESS_KEY_ID: 'operator', AWS_SECRET_ACCESS_KEY: 'operator' };
  const run = await runAgent(bundle.bundle, ['audit', '--cluster', cluster, '--ledger-table', harness.world.ledgerTable, '--json'], env);
  return { run, imds };
}

describe('Function: pgpool-vip audit, region from IMDS (bundled agent, moto)', () => {
  it("reads the ledger in the instance's region when no region is given", async () => {
    const { run, imds } = await auditOnNodeIn(harness.world.region);

    expect([run.code, run.stderr]).toEqual([0, '']);
    const records = JSON.parse(run.stdout) as Array<{ status: string }>;
    expect(records.map((record) => record.status)).toEqual(['applied']);
    expect(imds.requests).toEqual(expect.arrayContaining([expect.stringMatching(/^GET \/latest\/meta-data\/placement\/region 200$/)]));
  });

  it('looks in the region IMDS names: another region has no such ledger', async () => {
    const { run } = await auditOnNodeIn('eu-west-1');

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^pgpool-vip: audit failed: ResourceNotFoundException/);
  });
});
