import { CreateRoleCommand } from '@aws-sdk/client-iam';
import type { HttpHandler } from '@smithy/protocol-http';
import type { AwsCredentialIdentity } from '@smithy/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyClients, motoClients, type AwsClients } from '../../local/aws-clients.ts';
import { startMotoServer, type MotoServer } from '../../local/moto-server.ts';
import { createWorld, instanceRoleCredentials, type World, type WorldInstance } from '../../local/world.ts';
import { createHarness, type Harness } from '../../local/harness/controller-harness.ts';
import { sharedMoto } from '../kit/moto.ts';
import { countingSts } from '../support/counting-sts.ts';
import { envelope, signedDetail } from '../../local/requests.ts';

// STS checks a signature only with moto's IAM auth on, a switch for a whole moto_server. So the
// proofs are signed for, and replayed to, an STS of their own: a moto_server with auth on that
// holds the roles and the instances' sessions of them, and nothing else. The world the
// controller decides on (ledger, route tables, members) is on the run's shared moto.
let moto: MotoServer;
let world: World;
let harness: Harness;
let sts: HttpHandler & { calls: number };
let otherRoleCredentials: AwsCredentialIdentity;
let wrongSessionCredentials: AwsCredentialIdentity;
let shared: AwsClients;

const TRUSTS_EC2 = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});

beforeAll(async () => {
  const endpoint = sharedMoto().endpoint;
  shared = motoClients(endpoint);
  let made: World;
  [moto, made] = await Promise.all([startMotoServer(), createWorld(shared, { prefix: `pf-${process.pid}-`, instanceCount: 2 })]);
  const root = motoClients(moto.endpoint);
  await Promise.all(
    [made.roleName, 'some-other-role'].map((RoleName) => root.iam.send(new CreateRoleCommand({ RoleName, AssumeRolePolicyDocument: TRUSTS_EC2 }))),
  );
  // Each instance signs with its session of the node role as this STS issued it.
  const instances = await Promise.all(
    made.instances.map(async (instance) => ({ ...instance, credentials: await instanceRoleCredentials(root, made.roleName, instance.instanceId) })),
  );
  world = { ...made, instances };
  const node1 = instances[0] as WorldInstance;
  otherRoleCredentials = await instanceRoleCredentials(root, 'some-other-role', node1.instanceId);
  wrongSessionCredentials = await instanceRoleCredentials(root, world.roleName, 'i-00000000000000000');
  destroyClients(root);
  await moto.enableAuth();

  sts = countingSts();
  harness = await createHarness(endpoint, { world, stsEndpoint: moto.endpoint, deps: { stsHttp: sts } });
});
afterAll(async () => {
  if (shared !== undefined) destroyClients(shared);
  await moto?.stop();
});

const node = (index: number): WorldInstance => world.instances[index] as WorldInstance;

async function upFrom(instance: WorldInstance, options: Parameters<typeof signedDetail>[2] extends infer O ? Partial<O> : never = {}) {
  const detail = await signedDetail(world, instance, { action: 'up', stsEndpoint: moto.endpoint, ...options });
  return await harness.invoke(envelope(detail, world));
}

describe('Function: proof verification (moto with IAM auth on)', () => {
  it('accepts a proof signed by the instance role session named after the instance', async () => {
    const result = await upFrom(node(0));

    expect(result.outcome).toBe('applied');
    expect(result.callerArn).toBe(`arn:aws:sts::${world.accountId}:assumed-role/${world.roleName}/${node(0).instanceId}`);
  });

  it('rejects a proof signed by a role that is not allowed', async () => {
    const result = await upFrom({ ...node(0), credentials: otherRoleCredentials });

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toBe(
      `proof was signed by role some-other-role, which is not allowed for this cluster (allowed: ${world.roleName})`,
    );
  });

  it('rejects a proof whose session name is not the instance in the request', async () => {
    const result = await upFrom({ ...node(0), credentials: wrongSessionCredentials });

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toBe(`proof was signed by session i-00000000000000000, not by instance ${node(0).instanceId}`);
  });

  it('rejects a request changed after signing (digest mismatch) without asking STS', async () => {
    const detail = await signedDetail(world, node(0), { action: 'up', stsEndpoint: moto.endpoint });
    const before = sts.calls;

    const result = await harness.invoke(envelope({ ...detail, action: 'down' }, world));

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toMatch(/^proof digest does not match the request/);
    expect(sts.calls).toBe(before);
  });

  it('rejects a proof older than the freshness window (a replay with a fresh request id)', async () => {
    const old = new Date(Date.now() - 5 * 60_000);
    const before = sts.calls;

    const result = await upFrom(node(0), { signingDate: old });

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toMatch(/^proof is 30\d s old; the limit is 60 s/);
    expect(sts.calls).toBe(before);
  });

  it('rejects a proof signed for another STS host and never sends it there or anywhere', async () => {
    const before = sts.calls;

    const result = await upFrom(node(0), { stsEndpoint: 'https://sts.attacker.example/' });

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toBe(`proof is signed for host "sts.attacker.example"; this controller accepts only 127.0.0.1:${moto.port}`);
    expect(sts.calls).toBe(before);
  });

  it('rejects a proof signed with a wrong secret (STS refuses the signature)', async () => {
    const forged = { ...node(0), credentials: { ...node(0).credentials, secretAccessKey: 'not-the-secret' } };

    const result = await upFrom(forged);

    expect(result.outcome).toBe('rejected');
    expect(result.failedStep).toBe('verify');
    expect(result.reason).toMatch(/^STS refused the proof: /);
  });

  it('never writes the proof or its signature into the ledger record or the audit entry', async () => {
    const detail = await signedDetail(world, node(1), { action: 'up', stsEndpoint: moto.endpoint });
    const result = await harness.invoke(envelope(detail, world));
    const record = await harness.request(detail.requestId);

    const signature = /Signature=([0-9a-f]+)/.exec(detail.proof.headers.authorization ?? '')?.[1] as string;
    expect(signature).toHaveLength(64);
    for (const text of [JSON.stringify(result), JSON.stringify(record)]) {
      expect(text).not.toContain(signature);
      expect(text).not.toContain(detail.proof.headers['x-amz-security-token'] as string);
    }
  });
});
