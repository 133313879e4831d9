import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity } from '@smithy/types';
import { randomBytes, randomUUID } from 'node:crypto';
import type { OutcomeDetail, Proof } from '../../lib/contract.ts';
import { stsHttpRequest } from '../../lib/proof.ts';
import { RequestRecordSchema, requestKey, VipRecordSchema, vipKey, type RequestRecord, type VipRecord } from '../../lib/ledger-records.ts';
import { vipCidr, type Member, type VipRoute } from '../../functions/core/model.ts';
import {
  ProofRefusedError,
  RouteTableNotFoundError,
  type AddressCommand,
  type CallerIdentity,
  type ClaimInput,
  type ClaimResult,
  type InvocationResult,
  type Ledger,
  type Members,
  type NodeAddress,
  type OutcomeBus,
  type RouteTables,
  type RouteWriteReceipt,
  type SwitchoverPorts,
  type VipWrite,
} from '../../functions/core/ports.ts';

/**
 * The controller's ports in memory: the same answers the AWS adapters give against moto (the
 * contract suite in test/contract/ runs both through one set of specifications), without a
 * socket. Flow tests that check the controller's own logic use these; what a user meets (SDK
 * clients, the wire, the agent) stays on moto.
 *
 * Beyond moto, the node address runs the document's effect (the VIP is added to or removed from
 * the node's interface, `check` answers present or absent): moto's SSM runs no command.
 */

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

export interface MemoryInstance {
  instanceId: string;
  eni: string;
  vpcId: string;
  state: string;
  tags: Record<string, string>;
  sourceDestCheck: boolean;
  /** Whether the ENI is attached as the instance's device 0. */
  attached: boolean;
  /** Whether the VIP is on the node's interface (what the document's add/remove did last). */
  vipOnInterface: boolean;
}

interface MemoryRoute {
  /** ENI id, or `instance:<id>` / `other:<target>`, as the EC2 adapter reports it. */
  target: string;
  state: 'active' | 'blackhole';
}

interface MemoryRouteTable {
  vpcId: string;
  routes: Map<string, MemoryRoute>;
}

/** How a node answers a command: the invocation's status, or an SSM error thrown at send. */
export type CommandBehaviour = (command: AddressCommand, instanceId: string) => Partial<InvocationResult> | undefined;

/** An error as the SDK throws it, so flow code that looks at `name` sees what AWS would send. */
export class MemoryAwsError extends Error {
  public constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** A route write whose first attempt was given up on: EC2 applies that attempt later. */
export interface LateRouteWrite {
  routeTableId: string;
  destination: string;
  eni: string;
}

interface SentCommand {
  commandId: string;
  command: AddressCommand;
  results: Map<string, InvocationResult>;
}

/** One region of AWS in memory: VPCs, route tables, instances, the ledger table, SSM and the bus. */
export class MemoryAws {
  public readonly vpcs = new Map<string, string[]>();
  public readonly routeTables = new Map<string, MemoryRouteTable>();
  public readonly instances = new Map<string, MemoryInstance>();
  /** Ledger items by key, stored as serialised copies (as DynamoDB would). */
  public readonly items = new Map<string, string>();
  public readonly commands: SentCommand[] = [];
  public readonly outcomes: OutcomeDetail[] = [];
  /** Every port call, `port:operation`, in order. */
  public readonly calls: string[] = [];
  /** Called before each port call; a throw is the call's failure (faults moto cannot produce). */
  public beforeCall: (call: string, input: unknown) => void | Promise<void> = () => undefined;
  /** How nodes answer commands; default: the document succeeds. */
  public commandBehaviour: CommandBehaviour = () => undefined;
  /** First attempts of route writes that were given up on and have not landed yet. */
  public readonly lateRouteWrites: LateRouteWrite[] = [];
  private readonly heldRouteWrites: Array<{ matches: (change: { routeTableId: string; eni: string }) => boolean; landsWithinMs: number }> = [];
  private readonly sessions = new Map<string, { secretAccessKey: string; arn: string }>();

  public constructor(
    public readonly accountId = '123456789012',
    public readonly region = 'us-east-1',
  ) {}

  public createVpc(cidr: string): string {
    const vpcId = `vpc-${hex(8)}`;
    this.vpcs.set(vpcId, [cidr]);
    return vpcId;
  }

  public createRouteTable(vpcId: string): string {
    const routeTableId = `rtb-${hex(8)}`;
    this.routeTables.set(routeTableId, { vpcId, routes: new Map() });
    return routeTableId;
  }

  public runInstance(vpcId: string, tags: Record<string, string> = {}): MemoryInstance {
    const instance: MemoryInstance = {
      instanceId: `i-${hex(8)}`,
      eni: `eni-${hex(8)}`,
      vpcId,
      state: 'running',
      tags: { ...tags },
      sourceDestCheck: true,
      attached: true,
      vipOnInterface: false,
    };
    this.instances.set(instance.instanceId, instance);
    return instance;
  }

  /** A route as someone else (a console user, an old script) left it. */
  public putRoute(routeTableId: string, destination: string, target: string, state: 'active' | 'blackhole' = 'active'): void {
    this.table(routeTableId).routes.set(destination, { target, state });
  }

  public deleteRoute(routeTableId: string, destination: string): void {
    this.table(routeTableId).routes.delete(destination);
  }

  /**
   * The next route write that `matches` is held as a request timeout holds it: its first attempt
   * is given up on, the SDK's retry is applied at once, and the first attempt stays in
   * `lateRouteWrites` until landLateRouteWrites() applies it, as EC2 may after the caller went on.
   * The port reports that it may land within `landsWithinMs`.
   */
  public holdRouteWrite(matches: (change: { routeTableId: string; eni: string }) => boolean, landsWithinMs: number): void {
    this.heldRouteWrites.push({ matches, landsWithinMs });
  }

  /** EC2 applies the attempts given up on, now (whatever the route says by then). */
  public landLateRouteWrites(): void {
    for (const late of this.lateRouteWrites.splice(0)) this.table(late.routeTableId).routes.set(late.destination, { target: late.eni, state: 'active' });
  }

  /** Takes the hold that matches the write, if any: how long its first attempt may take to land. */
  public takeHeldRouteWrite(change: { routeTableId: string; eni: string }): number | null {
    const index = this.heldRouteWrites.findIndex((held) => held.matches(change));
    if (index < 0) return null;
    const [held] = this.heldRouteWrites.splice(index, 1);
    return held?.landsWithinMs ?? null;
  }

  /** Instance-profile credentials of `instanceId` under `roleName`; the STS port knows them. */
  public instanceCredentials(roleName: string, instanceId: string): AwsCredentialIdentity {
    const accessKeyId = `ASIA${hex(8).toUpperCase()}`;
    const secretAccessKey = hex(20);
    this.sessions.set(accessKeyId, { secretAccessKey, arn: `arn:aws:sts::${this.accountId}:assumed-role/${roleName}/${instanceId}` });
    return { accessKeyId, secretAccessKey, sessionToken: hex(16) };
  }

  /** Every port on this state. */
  public ports(): SwitchoverPorts {
    return {
      ledger: new MemoryLedger(this),
      routeTables: new MemoryRouteTables(this),
      members: new MemoryMembers(this),
      nodeAddress: new MemoryNodeAddress(this),
      callerIdentity: new MemoryCallerIdentity(this),
      outcomeBus: new MemoryOutcomeBus(this),
    };
  }

  public async enter(call: string, input: unknown): Promise<void> {
    this.calls.push(call);
    await this.beforeCall(call, input);
  }

  public table(routeTableId: string): MemoryRouteTable {
    const table = this.routeTables.get(routeTableId);
    if (table === undefined) throw new MemoryAwsError('InvalidRouteTableID.NotFound', `The routeTable ID '${routeTableId}' does not exist`);
    return table;
  }

  public session(accessKeyId: string): { secretAccessKey: string; arn: string } | undefined {
    return this.sessions.get(accessKeyId);
  }

  public readItem(key: string): unknown {
    const stored = this.items.get(key);
    return stored === undefined ? undefined : (JSON.parse(stored) as unknown);
  }

  public writeItem(key: string, item: object): void {
    this.items.set(key, JSON.stringify(item));
  }

  /**
   * The ledger's history index (`byCluster`: key cluster + recordedAt, every attribute projected),
   * newest first: as in DynamoDB, only the items that carry both keys, so a request's outcome and
   * not its claim nor the VIP record.
   */
  public history(cluster: string): RequestRecord[] {
    return [...this.items.values()]
      .map((stored) => JSON.parse(stored) as { cluster?: unknown; recordedAt?: unknown })
      .filter((item) => item.cluster === cluster && typeof item.recordedAt === 'string')
      .map((item) => RequestRecordSchema.parse(item))
      .sort((a, b) => (b.recordedAt ?? '').localeCompare(a.recordedAt ?? ''));
  }
}

/** The ledger table in memory, with the DynamoDB adapter's conditions. */
export class MemoryLedger implements Ledger {
  public constructor(private readonly aws: MemoryAws) {}

  public async claim(input: ClaimInput, vipWrite?: VipWrite): Promise<ClaimResult> {
    await this.aws.enter('ledger:claim', input);
    const existing = this.requestNow(input.requestId);
    const claimable =
      existing === null ||
      existing.callerArn === undefined ||
      existing.callerArn === null ||
      (existing.digest === input.digest &&
        ((existing.status === 'failed' && existing.claimToken !== input.claimToken) || (existing.status === 'claimed' && (existing.claimedAt ?? '') < new Date(input.now.getTime() - input.leaseMs).toISOString())));
    const vipHolds = vipWrite === undefined || this.versionIs(vipWrite.next.cluster, vipWrite.expectedVersion);
    if (claimable && vipHolds) {
      const { reason: _reason, failedStep: _failedStep, recordedAt: _recordedAt, ...kept } = existing ?? ({} as Partial<RequestRecord>);
      const { now, leaseMs: _leaseMs, attemptsBefore: _attemptsBefore, ...fields } = input;
      const attempts = (existing?.attempts ?? 0) + 1;
      const record = { ...kept, ...fields, pk: requestKey(input.requestId), status: 'claimed' as const, claimedAt: now.toISOString(), attempts };
      this.aws.writeItem(record.pk, record);
      if (vipWrite !== undefined) this.aws.writeItem(vipWrite.next.pk, vipWrite.next);
      return { kind: 'claimed', attempts: vipWrite === undefined ? attempts : (input.attemptsBefore ?? 0) + 1 };
    }
    if (claimable) return { kind: 'vip-changed' };
    if (existing === null) throw new Error(`request ${input.requestId} vanished from the ledger during its claim`);
    if (existing.status === 'claimed' && existing.claimToken === input.claimToken) return { kind: 'claimed', attempts: existing.attempts ?? 1 };
    return { kind: 'duplicate', record: existing };
  }

  public async readRequest(requestId: string): Promise<RequestRecord | null> {
    await this.aws.enter('ledger:readRequest', requestId);
    return this.requestNow(requestId);
  }

  public async readVip(cluster: string): Promise<VipRecord | null> {
    await this.aws.enter('ledger:readVip', cluster);
    const item = this.aws.readItem(vipKey(cluster));
    return item === undefined ? null : VipRecordSchema.parse(item);
  }

  public async writeVip(next: VipRecord, expectedVersion: number | null): Promise<boolean> {
    await this.aws.enter('ledger:writeVip', next);
    if (!this.versionIs(next.cluster, expectedVersion)) return false;
    this.aws.writeItem(next.pk, next);
    return true;
  }

  public async recordOutcome(record: RequestRecord): Promise<boolean> {
    await this.aws.enter('ledger:recordOutcome', record);
    if (record.claimToken === undefined) throw new Error(`the outcome of request ${record.requestId} carries no claim token`);
    if (this.requestNow(record.requestId)?.claimToken !== record.claimToken) return false;
    this.aws.writeItem(record.pk, record);
    return true;
  }

  public async markRouted(requestId: string, claimToken: string): Promise<boolean> {
    await this.aws.enter('ledger:markRouted', requestId);
    const current = this.requestNow(requestId);
    if (current === null || current.claimToken !== claimToken || current.status !== 'claimed') return false;
    this.aws.writeItem(current.pk, { ...current, routedClaim: claimToken });
    return true;
  }

  public async recordUnclaimedOutcome(record: RequestRecord): Promise<boolean> {
    await this.aws.enter('ledger:recordUnclaimedOutcome', record);
    if (this.aws.items.has(record.pk)) return false;
    this.aws.writeItem(record.pk, record);
    return true;
  }

  private requestNow(requestId: string): RequestRecord | null {
    const item = this.aws.readItem(requestKey(requestId));
    return item === undefined ? null : RequestRecordSchema.parse(item);
  }

  private versionIs(cluster: string, expected: number | null): boolean {
    const current = this.aws.readItem(vipKey(cluster)) as { version?: number } | undefined;
    return expected === null ? current === undefined : current?.version === expected;
  }
}

/** The route tables in memory: create refuses an existing route, replace a missing one; nothing deletes. */
export class MemoryRouteTables implements RouteTables {
  public constructor(private readonly aws: MemoryAws) {}

  public async readVipRoutes(routeTableIds: string[], vip: string): Promise<VipRoute[]> {
    await this.aws.enter('routes:readVipRoutes', routeTableIds);
    return routeTableIds.map((routeTableId) => {
      const table = this.aws.routeTables.get(routeTableId);
      if (table === undefined) throw new RouteTableNotFoundError(routeTableId);
      return vipRouteOf(routeTableId, table, vip);
    });
  }

  public async readVipRoutesInVpc(vpcId: string, vip: string): Promise<VipRoute[]> {
    await this.aws.enter('routes:readVipRoutesInVpc', vpcId);
    return [...this.aws.routeTables]
      .filter(([, table]) => table.vpcId === vpcId && table.routes.has(vipCidr(vip)))
      .map(([routeTableId, table]) => vipRouteOf(routeTableId, table, vip));
  }

  public async pointVipRoute(change: { routeTableId: string; vip: string; eni: string; exists: boolean }): Promise<RouteWriteReceipt> {
    await this.aws.enter('routes:pointVipRoute', change);
    const table = this.aws.table(change.routeTableId);
    const destination = vipCidr(change.vip);
    const landsWithinMs = this.aws.takeHeldRouteWrite(change);
    if (landsWithinMs !== null) this.aws.lateRouteWrites.push({ routeTableId: change.routeTableId, destination, eni: change.eni });
    // As the EC2 adapter: a create that meets a route someone just created replaces it.
    if (change.exists && !table.routes.has(destination)) {
      throw new MemoryAwsError('InvalidParameterValue', `There is no route defined for '${destination}' in the route table`);
    }
    table.routes.set(destination, { target: change.eni, state: 'active' });
    return { mayLandUntil: landsWithinMs === null ? null : Date.now() + landsWithinMs };
  }
}

function vipRouteOf(routeTableId: string, table: MemoryRouteTable, vip: string): VipRoute {
  const route = table.routes.get(vipCidr(vip));
  return { routeTableId, vpcId: table.vpcId, target: route?.target ?? null, state: route?.state ?? null };
}

const LISTED_STATES = new Set(['pending', 'running', 'stopping', 'stopped']);

/** The instances in memory. */
export class MemoryMembers implements Members {
  public constructor(private readonly aws: MemoryAws) {}

  public async listMembers(tag: { key: string; value: string }): Promise<Member[]> {
    await this.aws.enter('members:listMembers', tag);
    return [...this.aws.instances.values()].filter((instance) => instance.tags[tag.key] === tag.value && LISTED_STATES.has(instance.state)).map(memberOf);
  }

  public async describeInstance(instanceId: string): Promise<Member | null> {
    await this.aws.enter('members:describeInstance', instanceId);
    const instance = this.aws.instances.get(instanceId);
    return instance === undefined ? null : memberOf(instance);
  }

  public async vpcCidrs(): Promise<Map<string, string[]>> {
    await this.aws.enter('members:vpcCidrs', null);
    return new Map([...this.aws.vpcs].map(([vpcId, cidrs]) => [vpcId, [...cidrs]]));
  }

  public async disableSourceDestCheck(eni: string): Promise<void> {
    await this.aws.enter('members:disableSourceDestCheck', eni);
    const instance = [...this.aws.instances.values()].find((candidate) => candidate.eni === eni);
    if (instance === undefined) throw new MemoryAwsError('InvalidNetworkInterfaceID.NotFound', `The networkInterface ID '${eni}' does not exist`);
    instance.sourceDestCheck = false;
  }
}

function memberOf(instance: MemoryInstance): Member {
  return {
    instanceId: instance.instanceId,
    state: instance.state,
    vpcId: instance.vpcId,
    tags: { ...instance.tags },
    interfaces: [{ eni: instance.eni, deviceIndex: 0, sourceDestCheck: instance.sourceDestCheck, attached: instance.attached }],
  };
}

/** SSM Run Command of the project's document, run on the nodes in memory. */
export class MemoryNodeAddress implements NodeAddress {
  public constructor(private readonly aws: MemoryAws) {}

  public async send(command: AddressCommand): Promise<string> {
    await this.aws.enter('ssm:send', command);
    const commandId = randomUUID();
    const results = new Map<string, InvocationResult>();
    for (const instanceId of command.instanceIds) results.set(instanceId, this.run(command, instanceId));
    this.aws.commands.push({ commandId, command: structuredClone(command), results });
    return commandId;
  }

  public async wait(invocation: { commandId: string; instanceId: string; timeoutMs: number; pollMs?: number }): Promise<InvocationResult> {
    await this.aws.enter('ssm:wait', invocation);
    const sent = this.aws.commands.find((candidate) => candidate.commandId === invocation.commandId);
    if (sent === undefined) throw new MemoryAwsError('InvalidCommandId', 'Invalid command id.');
    // As the SSM adapter: an invocation SSM does not know yet is polled until the wait ends.
    return sent.results.get(invocation.instanceId) ?? { status: 'Pending', finished: false, succeeded: false, detail: 'not started', output: '' };
  }

  private run(command: AddressCommand, instanceId: string): InvocationResult {
    const instance = this.aws.instances.get(instanceId);
    const override = this.aws.commandBehaviour(command, instanceId);
    const status = override?.status ?? 'Success';
    if (status === 'Success' && instance !== undefined) {
      if (command.action === 'add') instance.vipOnInterface = true;
      if (command.action === 'remove') instance.vipOnInterface = false;
    }
    const output = command.action === 'check' && instance !== undefined ? (instance.vipOnInterface ? 'present' : 'absent') : '';
    return {
      status,
      finished: status !== 'Pending' && status !== 'InProgress',
      succeeded: status === 'Success',
      detail: status,
      output,
      ...override,
    };
  }
}

/** STS GetCallerIdentity in memory: the proof's SigV4 signature is checked with the session's secret. */
export class MemoryCallerIdentity implements CallerIdentity {
  public constructor(private readonly aws: MemoryAws) {}

  public async callerArn(proof: Proof): Promise<string> {
    await this.aws.enter('sts:callerArn', proof);
    const authorization = proof.headers.authorization ?? '';
    const accessKeyId = /Credential=([^/]+)\//.exec(authorization)?.[1] ?? '';
    const session = this.aws.session(accessKeyId);
    if (session === undefined) throw new ProofRefusedError('InvalidClientTokenId', 'The security token included in the request is invalid.');
    const host = proof.headers.host ?? '';
    const date = proof.headers['x-amz-date'] ?? '';
    const signingDate = new Date(date.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
    const signedNames = (/SignedHeaders=([^,]+)/.exec(authorization)?.[1] ?? '').split(';');
    const headers = Object.fromEntries(signedNames.filter((name) => name !== 'x-amz-date' && name !== 'authorization').flatMap((name) => {
      const value = proof.headers[name];
      return value === undefined ? [] : [[name, value]];
    }));
    const signer = new SignatureV4({
      service: 'sts',
      region: /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(authorization)?.[1] ?? this.aws.region,
      credentials: { accessKeyId, secretAccessKey: session.secretAccessKey, ...(proof.headers['x-amz-security-token'] === undefined ? {} : { sessionToken: proof.headers['x-amz-security-token'] }) },
      sha256: Sha256,
      applyChecksum: true,
    });
    const resigned = await signer.sign(stsHttpRequest(new URL(`http://${host}/`), headers, proof.body), { signingDate });
    const expected = String(resigned.headers.authorization ?? '');
    if (Number.isNaN(signingDate.getTime()) || expected !== authorization) {
      throw new ProofRefusedError('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
    }
    return session.arn;
  }
}

/** The outcome bus in memory: every published detail, in order. */
export class MemoryOutcomeBus implements OutcomeBus {
  public constructor(private readonly aws: MemoryAws) {}

  public async publish(detail: OutcomeDetail): Promise<void> {
    await this.aws.enter('bus:publish', detail);
    this.aws.outcomes.push(structuredClone(detail));
  }
}
