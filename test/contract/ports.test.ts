import { GetCommandInvocationCommand, SendCommandCommand, SSMClient, type CommandInvocationStatus } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { OutcomeDetail } from '../../lib/contract.ts';
import { signRequest } from '../../lib/proof.ts';
import { RouteTableNotFoundError } from '../../functions/core/ports.ts';
import { waitForInvocation } from '../../functions/adapters/ssm-address.ts';
import { memoryContractWorld, motoContractWorld, type ContractWorld } from '../kit/contract-worlds.ts';
import { MemoryAws } from '../kit/memory-aws.ts';

/**
 * The contract of the controller's ports: every spec runs on the in-memory ports (test/kit/) and
 * on the AWS adapters against moto_server, so the fast flow tests cannot drift from what the
 * adapters do.
 */
const claimInput = (requestId: string, claimToken: string, digest = 'a'.repeat(64)) => ({
  requestId,
  cluster: 'demo',
  vip: '198.19.0.50',
  action: 'up' as const,
  instanceId: 'i-0000000000000000a',
  issuedAt: new Date().toISOString(),
  digest,
  callerArn: 'arn:aws:sts::123456789012:assumed-role/pgpool-vip-node/i-0000000000000000a',
  now: new Date(),
  ttl: Math.floor(Date.now() / 1000) + 3600,
  leaseMs: 60_000,
  claimToken,
});

const VIP = '198.19.0.50';
const member = (world: ContractWorld, index: number) => {
  const found = world.members[index];
  if (found === undefined) throw new Error(`no member ${index}`);
  return found;
};

describe.each([
  ['in memory', memoryContractWorld],
  ['AWS adapters against moto', motoContractWorld],
] as const)('Contract: the ports (%s)', (_kind, build) => {
  let world: ContractWorld;
  beforeAll(async () => {
    world = await build();
  });

  describe('Port: ledger', () => {
    it('claims a request once: a second delivery is a duplicate', async () => {
      const requestId = randomUUID();

      const first = await world.ports.ledger.claim(claimInput(requestId, 'token-1'));
      const second = await world.ports.ledger.claim(claimInput(requestId, 'token-2'));

      expect(first).toEqual({ kind: 'claimed', attempts: 1 });
      expect(second).toMatchObject({ kind: 'duplicate', record: { status: 'claimed', requestId } });
    });

    it('knows its own claim when the SDK retries a claim whose first answer was lost', async () => {
      const requestId = randomUUID();
      await world.ports.ledger.claim(claimInput(requestId, 'token-1'));

      const retried = await world.ports.ledger.claim(claimInput(requestId, 'token-1'));

      expect(retried).toEqual({ kind: 'claimed', attempts: 1 });
    });

    it('lets a failed request be claimed again with the same digest, and not with another', async () => {
      const requestId = randomUUID();
      await world.ports.ledger.claim(claimInput(requestId, 'token-1'));
      const claimed = await world.ports.ledger.readRequest(requestId);
      await world.ports.ledger.recordOutcome({ ...(claimed as NonNullable<typeof claimed>), status: 'failed', reason: 'route table rtb-1: throttled' });

      const otherContent = await world.ports.ledger.claim(claimInput(requestId, 'token-2', 'b'.repeat(64)));
      const retry = await world.ports.ledger.claim(claimInput(requestId, 'token-3'));

      expect(otherContent).toMatchObject({ kind: 'duplicate', record: { status: 'failed' } });
      expect(retry).toEqual({ kind: 'claimed', attempts: 2 });
      expect(await world.ports.ledger.readRequest(requestId)).toMatchObject({ status: 'claimed', attempts: 2 });
      expect((await world.ports.ledger.readRequest(requestId))?.reason).toBeUndefined();
    });

    it('refuses a claim over the failure its own attempt recorded (a claim whose answer was lost, landing late)', async () => {
      const requestId = randomUUID();
      await world.ports.ledger.claim(claimInput(requestId, 'token-1'));
      const claimed = await world.ports.ledger.readRequest(requestId);
      await world.ports.ledger.recordOutcome({ ...(claimed as NonNullable<typeof claimed>), status: 'failed', reason: 'claim: timed out' });

      const late = await world.ports.ledger.claim(claimInput(requestId, 'token-1'));
      const resend = await world.ports.ledger.claim(claimInput(requestId, 'token-2'));

      expect(late).toMatchObject({ kind: 'duplicate', record: { status: 'failed', claimToken: 'token-1' } });
      expect(resend).toEqual({ kind: 'claimed', attempts: 2 });
    });

    it('writes an outcome only over its own attempt\'s claim: a superseded attempt\'s late "failed" leaves the newer "applied"', async () => {
      const requestId = randomUUID();
      // The first attempt's lease ran out (it claimed two minutes ago), so a retry took the request over.
      await world.ports.ledger.claim({ ...claimInput(requestId, 'token-old'), now: new Date(Date.now() - 120_000) });
      const stale = await world.ports.ledger.readRequest(requestId);
      expect(await world.ports.ledger.claim(claimInput(requestId, 'token-new'))).toEqual({ kind: 'claimed', attempts: 2 });
      const current = await world.ports.ledger.readRequest(requestId);
      const newer = await world.ports.ledger.recordOutcome({ ...(current as NonNullable<typeof current>), status: 'applied' });

      const late = await world.ports.ledger.recordOutcome({ ...(stale as NonNullable<typeof stale>), status: 'failed', reason: 'route table rtb-1: timed out' });

      expect(await world.ports.ledger.readRequest(requestId)).toMatchObject({ status: 'applied', claimToken: 'token-new', attempts: 2 });
      expect((await world.ports.ledger.readRequest(requestId))?.reason).toBeUndefined();
      expect(newer).toBe(true);
      expect(late).toBe(false);
    });

    it('marks a claimed request routed over its own claim only, and not once its outcome is recorded', async () => {
      const requestId = randomUUID();
      await world.ports.ledger.claim(claimInput(requestId, 'token-1'));

      const other = await world.ports.ledger.markRouted(requestId, 'token-0');
      const own = await world.ports.ledger.markRouted(requestId, 'token-1');
      const marked = await world.ports.ledger.readRequest(requestId);
      await world.ports.ledger.recordOutcome({ ...(marked as NonNullable<typeof marked>), routedClaim: undefined, status: 'applied' });
      const afterOutcome = await world.ports.ledger.markRouted(requestId, 'token-1');

      expect([other, own, afterOutcome]).toEqual([false, true, false]);
      expect(marked).toMatchObject({ status: 'claimed', claimToken: 'token-1', routedClaim: 'token-1' });
      expect((await world.ports.ledger.readRequest(requestId))?.routedClaim).toBeUndefined();
      expect(await world.ports.ledger.markRouted(randomUUID(), 'token-1')).toBe(false);
    });

    it('writes the VIP record only over the version it read', async () => {
      const record = {
        pk: 'vip#ledger-test',
        cluster: 'ledger-test',
        vip: '198.19.0.50',
        holderInstanceId: 'i-0000000000000000a',
        holderEni: 'eni-0000000000000000a',
        upIssuedAt: new Date().toISOString(),
        upRequestId: randomUUID(),
        released: false,
        version: 1,
        updatedAt: new Date().toISOString(),
      };

      expect(await world.ports.ledger.writeVip(record, null)).toBe(true);
      expect(await world.ports.ledger.writeVip({ ...record, version: 2 }, null)).toBe(false);
      expect(await world.ports.ledger.writeVip({ ...record, version: 2 }, 1)).toBe(true);
      expect(await world.ports.ledger.writeVip({ ...record, version: 3 }, 1)).toBe(false);
      expect(await world.ports.ledger.readVip('ledger-test')).toMatchObject({ version: 2 });
    });

    it('claims a request and writes the VIP record together, or neither', async () => {
      const vip = (cluster: string, version: number) => ({
        pk: `vip#${cluster}`,
        cluster,
        vip: '198.19.0.51',
        holderInstanceId: 'i-0000000000000000a',
        holderEni: 'eni-0000000000000000a',
        upIssuedAt: new Date().toISOString(),
        upRequestId: randomUUID(),
        released: false,
        version,
        updatedAt: new Date().toISOString(),
      });
      const cluster = `together-${randomUUID().slice(0, 8)}`;
      const first = randomUUID();
      const raced = randomUUID();

      const claimed = await world.ports.ledger.claim(claimInput(first, 'token-1'), { next: vip(cluster, 1), expectedVersion: null });
      const changed = await world.ports.ledger.claim(claimInput(raced, 'token-2'), { next: vip(cluster, 2), expectedVersion: 7 });
      const duplicate = await world.ports.ledger.claim(claimInput(first, 'token-3'), { next: vip(cluster, 2), expectedVersion: 1 });

      expect(claimed).toEqual({ kind: 'claimed', attempts: 1 });
      expect(changed).toEqual({ kind: 'vip-changed' });
      expect(await world.ports.ledger.readRequest(raced)).toBeNull();
      expect(duplicate).toMatchObject({ kind: 'duplicate', record: { requestId: first, status: 'claimed' } });
      expect(await world.ports.ledger.readVip(cluster)).toMatchObject({ version: 1 });
    });
  });

  describe("Ledger: the history index the audit reads", () => {
    it('lists a request once its outcome is recorded, not while it is claimed, and not the VIP record', async () => {
      const cluster = `history-${randomUUID().slice(0, 8)}`;
      const [recorded, claimed] = [randomUUID(), randomUUID()];
      const vip = { pk: `vip#${cluster}`, cluster, vip: VIP, holderInstanceId: 'i-0000000000000000a', holderEni: 'eni-0000000000000000a', upIssuedAt: new Date().toISOString(), upRequestId: recorded, released: false, version: 1, updatedAt: new Date().toISOString() };
      await world.ports.ledger.claim({ ...claimInput(recorded, 'token-1'), cluster }, { next: vip, expectedVersion: null });
      await world.ports.ledger.claim({ ...claimInput(claimed, 'token-2'), cluster });
      const before = await world.history(cluster);
      const current = await world.ports.ledger.readRequest(recorded);

      await world.ports.ledger.recordOutcome({ ...(current as NonNullable<typeof current>), status: 'applied', dryRun: true, recordedAt: new Date().toISOString() });

      expect(before).toEqual([]);
      expect(await world.history(cluster)).toEqual([recorded]);
    });
  });

  describe('Port: route tables', () => {
    it('reads an absent VIP route as no target, with the table\'s VPC', async () => {
      const table = world.nextTable();

      expect(await world.ports.routeTables.readVipRoutes([table], VIP)).toEqual([{ routeTableId: table, vpcId: world.vpcId, target: null, state: null }]);
    });

    it('creates the route, then replaces it, and reads each as active', async () => {
      const table = world.nextTable();
      const [one, two] = [member(world, 0), member(world, 1)];

      await world.ports.routeTables.pointVipRoute({ routeTableId: table, vip: VIP, eni: one.eni, exists: false });
      const created = await world.ports.routeTables.readVipRoutes([table], VIP);
      await world.ports.routeTables.pointVipRoute({ routeTableId: table, vip: VIP, eni: two.eni, exists: true });
      const replaced = await world.ports.routeTables.readVipRoutes([table], VIP);

      expect(created).toEqual([{ routeTableId: table, vpcId: world.vpcId, target: one.eni, state: 'active' }]);
      expect(replaced).toEqual([{ routeTableId: table, vpcId: world.vpcId, target: two.eni, state: 'active' }]);
    });

    it('reports nothing that may still land when every attempt of a write was answered', async () => {
      const table = world.nextTable();

      const created = await world.ports.routeTables.pointVipRoute({ routeTableId: table, vip: VIP, eni: member(world, 0).eni, exists: false });
      const replaced = await world.ports.routeTables.pointVipRoute({ routeTableId: table, vip: VIP, eni: member(world, 1).eni, exists: true });

      expect([created, replaced]).toEqual([{ mayLandUntil: null }, { mayLandUntil: null }]);
    });

    it('ends on the ENI asked for when the route was created by someone else between the read and the create', async () => {
      const table = world.nextTable();
      await world.ports.routeTables.pointVipRoute({ routeTableId: table, vip: VIP, eni: member(world, 0).eni, exists: false });

      await world.ports.routeTables.pointVipRoute({ routeTableId: table, vip: VIP, eni: member(world, 1).eni, exists: false });

      expect((await world.ports.routeTables.readVipRoutes([table], VIP))[0]?.target).toBe(member(world, 1).eni);
    });

    it('refuses to replace a route that does not exist (it never creates one by replacing)', async () => {
      const table = world.nextTable();

      await expect(world.ports.routeTables.pointVipRoute({ routeTableId: table, vip: VIP, eni: member(world, 0).eni, exists: true })).rejects.toThrow();
      expect((await world.ports.routeTables.readVipRoutes([table], VIP))[0]?.target).toBeNull();
    });

    it('names a configured table that does not exist', async () => {
      const read = world.ports.routeTables.readVipRoutes([world.nextTable(), 'rtb-0123456789abcdef0'], VIP);

      await expect(read).rejects.toBeInstanceOf(RouteTableNotFoundError);
      await expect(read).rejects.toThrow('rtb-0123456789abcdef0');
    });

    it('reads a route another tool pointed at an instance id as instance:<id>', async () => {
      const table = world.nextTable();
      await world.routeToInstance(table, VIP, member(world, 0).instanceId);

      expect((await world.ports.routeTables.readVipRoutes([table], VIP))[0]).toMatchObject({ target: `instance:${member(world, 0).instanceId}` });
    });

    it('lists only the tables of the VPC that have the VIP route', async () => {
      const [routed, deleted] = [world.nextTable(), world.nextTable()];
      const vip = '198.19.0.77';
      await world.ports.routeTables.pointVipRoute({ routeTableId: routed, vip, eni: member(world, 2).eni, exists: false });
      await world.ports.routeTables.pointVipRoute({ routeTableId: deleted, vip, eni: member(world, 2).eni, exists: false });
      await world.deleteRoute(deleted, vip);

      expect(await world.ports.routeTables.readVipRoutesInVpc(world.vpcId, vip)).toEqual([
        { routeTableId: routed, vpcId: world.vpcId, target: member(world, 2).eni, state: 'active' },
      ]);
    });
  });

  describe('Port: members', () => {
    it('lists the tagged instances with their ENI as device 0, source/dest check on', async () => {
      const members = await world.ports.members.listMembers(world.memberTag);

      expect(members.map((found) => found.instanceId).sort()).toEqual(world.members.map((found) => found.instanceId).sort());
      expect(members.find((found) => found.instanceId === member(world, 0).instanceId)).toMatchObject({
        state: 'running',
        vpcId: world.vpcId,
        tags: expect.objectContaining({ [world.memberTag.key]: world.memberTag.value }) as unknown,
        interfaces: [{ eni: member(world, 0).eni, deviceIndex: 0, sourceDestCheck: true, attached: true }],
      });
    });

    it('lists nothing for a tag no instance carries', async () => {
      expect(await world.ports.members.listMembers({ key: world.memberTag.key, value: 'nobody' })).toEqual([]);
    });

    it('describes an instance EC2 does not know as null', async () => {
      expect(await world.ports.members.describeInstance('i-0123456789abcdef0')).toBeNull();
    });

    it('reads the CIDR of the VPC', async () => {
      expect((await world.ports.members.vpcCidrs()).get(world.vpcId)).toEqual([world.vpcCidr]);
    });

    it('turns the source/dest check off on an ENI', async () => {
      await world.ports.members.disableSourceDestCheck(member(world, 1).eni);

      expect((await world.ports.members.describeInstance(member(world, 1).instanceId))?.interfaces[0]?.sourceDestCheck).toBe(false);
    });

    it('still lists a stopped member, as stopped', async () => {
      await world.stop(member(world, 2).instanceId);

      const members = await world.ports.members.listMembers(world.memberTag);

      expect(members.find((found) => found.instanceId === member(world, 2).instanceId)?.state).toBe('stopped');
    });
  });

  describe('Port: node address', () => {
    it('sends the document and reads the run as finished and succeeded', async () => {
      const instanceId = member(world, 0).instanceId;
      const commandId = await world.ports.nodeAddress.send({ document: 'pgpool-vip-address', action: 'add', vip: VIP, iface: 'eth0', instanceIds: [instanceId] });

      const result = await world.ports.nodeAddress.wait({ commandId, instanceId, timeoutMs: 5000, pollMs: 50 });

      expect(result).toMatchObject({ status: 'Success', finished: true, succeeded: true });
    });

    it('refuses to wait for a command it never sent', async () => {
      const waited = world.ports.nodeAddress.wait({ commandId: randomUUID(), instanceId: member(world, 0).instanceId, timeoutMs: 200, pollMs: 50 });

      await expect(waited).rejects.toThrow(/Invalid command id/);
    });
  });

  describe('Port: caller identity', () => {
    it('names the instance-profile session that signed a proof', async () => {
      const signer = member(world, 0);
      const { proof } = await signRequest(
        { action: 'up', cluster: 'demo', vip: VIP, instanceId: signer.instanceId, eni: signer.eni, interface: 'eth0' },
        { region: world.region, credentials: signer.credentials, stsEndpoint: new URL(world.stsEndpoint) },
      );

      expect(await world.ports.callerIdentity.callerArn(proof)).toMatch(new RegExp(`^arn:aws:sts::\\d{12}:assumed-role/${world.roleName}/${signer.instanceId}$`));
    });
  });

  describe('Port: outcome bus', () => {
    it('delivers the outcome detail as published', async () => {
      const detail = { outcome: 'applied', requestId: randomUUID(), cluster: 'demo' } as unknown as OutcomeDetail;

      await world.ports.outcomeBus.publish(detail);

      expect(await world.deliveredOutcomes()).toEqual([detail]);
    });
  });
});

/** How the SSM adapter reads answers moto cannot give (a run that failed, one still running). */
function ssmAnswering(status: CommandInvocationStatus, stderr = ''): SSMClient {
  const ssm = new SSMClient({ region: 'us-east-1' });
  mockClient(ssm)
    .on(SendCommandCommand)
    .resolves({ Command: { CommandId: 'cmd-0001' } })
    .on(GetCommandInvocationCommand)
    .resolves({ Status: status, StandardErrorContent: stderr });
  return ssm;
}

describe('Contract: a node\'s answers moto cannot give read the same in memory as through the SSM adapter', () => {
  it.each([
    ['Failed', 'pgpool-vip-address: no interface'],
    ['TimedOut', ''],
    ['InProgress', ''],
  ] as const)('%s', async (status, stderr) => {
    const adapter = await waitForInvocation(ssmAnswering(status, stderr), { commandId: 'cmd-0001', instanceId: 'i-0', timeoutMs: 100, pollMs: 20 }, () => Promise.resolve());
    const aws = new MemoryAws();
    const instance = aws.runInstance(aws.createVpc('198.18.0.0/16'));
    aws.commandBehaviour = () => ({ status, ...(stderr === '' ? {} : { detail: stderr }) });
    const nodeAddress = aws.ports().nodeAddress;
    const commandId = await nodeAddress.send({ document: 'd', action: 'add', vip: VIP, iface: 'eth0', instanceIds: [instance.instanceId] });

    const memory = await nodeAddress.wait({ commandId, instanceId: instance.instanceId, timeoutMs: 100 });

    expect({ ...memory, output: '' }).toEqual({ ...adapter, output: '' });
  });
});
