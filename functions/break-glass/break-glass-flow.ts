import { createHash, randomUUID } from 'node:crypto';
import { canonicalJson } from '../../lib/canonical-json.ts';
import type { ClusterConfig } from '../../lib/cluster-config.ts';
import type { RouteReport } from '../../lib/contract.ts';
import { describeError } from '../../lib/errors.ts';
import { requestKey, type RequestRecord, type SsmCommandReport } from '../../lib/ledger-records.ts';
import { changeAddress, fence, othersToFence, rewriteRoutes } from '../core/act.ts';
import { nextVipRecord, routePlansFor, type SwitchoverPlan } from '../core/decide.ts';
import { checkClusterNetwork, checkMember } from '../core/member-check.ts';
import type { Member, SwitchoverRequest } from '../core/model.ts';
import type { Ledger, Members, NodeAddress, RouteTables } from '../core/ports.ts';
import { routesForTakeover } from '../core/route-takeover.ts';
import { RequestRejectedError } from '../core/steps.ts';

/**
 * Break-glass: an operator moves the VIP to the instance pgpool elected when the controller
 * cannot (EventBridge or Lambda down, `up` exiting 3). It writes what the controller would have
 * written for an `up` of that instance, through the controller's own ports and decision code:
 * the VIP record (conditional on its version) with the request record marked break-glass, in one
 * transaction; then the route in every configured table; then SSM adds the VIP on the instance
 * and fences the other members. So the reconciler (even with `heal: true`) finds nothing to put
 * back, and later `up`/`down` requests are decided on the usual record (docs/operations.md).
 */

export interface BreakGlassPorts {
  ledger: Ledger;
  routeTables: RouteTables;
  members: Members;
  nodeAddress: NodeAddress;
}

export interface BreakGlassInput {
  cluster: ClusterConfig;
  /** The instance pgpool elected. */
  instanceId: string;
  /** Its ENI to route to; default its primary ENI (device index 0). */
  eni?: string;
  /** Who runs it (STS GetCallerIdentity of the operator's credentials), and why: both audited. */
  operatorArn: string;
  reason: string;
  /** Send the SSM add and fence; false when SSM is down too (on-call then runs `manualCommand`). */
  ssm: boolean;
  ssmWaitMs: number;
  ttlDays: number;
  now?: () => Date;
}

export interface BreakGlassResult {
  requestId: string;
  cluster: string;
  vip: string;
  instanceId: string;
  eni: string;
  operatorArn: string;
  outcome: 'applied' | 'failed';
  reason: string;
  holderBefore: string | null;
  holderAfter: string;
  /** The VIP record's version before and after (null before the cluster's first holder). */
  versionBefore: number | null;
  versionAfter: number | null;
  routes: RouteReport[];
  ssmCommands: SsmCommandReport[];
  sourceDestCheckDisabled: boolean;
  /** What on-call runs on the instance when SSM did not (or may not have) put the VIP there. */
  manualCommand: string;
}

/** The break-glass was refused before anything was written (wrong instance, ENI, cluster...). */
export class BreakGlassRefusedError extends Error {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BreakGlassRefusedError';
  }
}

/** Attempts at the VIP record's conditional write when a controller changes it at the same time. */
const VIP_WRITE_ATTEMPTS = 3;
/** The claim outlives a break-glass run by far; it is finished within seconds. */
const CLAIM_LEASE_MS = 10 * 60_000;

export async function breakGlass(ports: BreakGlassPorts, input: BreakGlassInput): Promise<BreakGlassResult> {
  const { cluster, instanceId } = input;
  const now = input.now ?? (() => new Date());
  const receivedAt = now();
  const requestId = randomUUID();
  const claimToken = randomUUID();
  const reason = `break-glass by ${input.operatorArn}: ${input.reason}`;

  for (let attempt = 1; ; attempt += 1) {
    const [vip, routes, target, members] = await Promise.all([
      ports.ledger.readVip(cluster.name),
      ports.routeTables.readVipRoutes(cluster.routeTables, cluster.vip),
      ports.members.describeInstance(instanceId),
      ports.members.listMembers(cluster.memberTag),
    ]);
    const eni = input.eni ?? primaryEni(target);
    const check = validated(cluster, routes, target, instanceId, eni);
    const issuedAt = now().toISOString();
    const request: SwitchoverRequest = { requestId, action: 'up', instanceId, eni, issuedAt };
    // Every table points at the instance, whatever the split-brain guard would say: the operator decides.
    const plan: SwitchoverPlan = routesForTakeover({ kind: 'up', outcome: 'applied', routes: routePlansFor(eni, routes) }, vip, instanceId);
    if (plan.kind !== 'up') throw new Error('a takeover plan is always an up');
    const next = nextVipRecord(plan, { ...request, cluster: cluster.name, vip: cluster.vip }, vip, now());
    const digest = createHash('sha256').update(canonicalJson({ breakGlass: true, cluster: cluster.name, vip: cluster.vip, ...request, operatorArn: input.operatorArn }), 'utf8').digest('hex');
    const claimed = await ports.ledger.claim(
      {
        requestId,
        cluster: cluster.name,
        vip: cluster.vip,
        action: 'up',
        instanceId,
        issuedAt,
        digest,
        callerArn: input.operatorArn,
        now: now(),
        ttl: Math.floor(now().getTime() / 1000) + input.ttlDays * 86_400,
        leaseMs: CLAIM_LEASE_MS,
        claimToken,
        attemptsBefore: 0,
      },
      next === null ? undefined : { next, expectedVersion: vip?.version ?? null },
    );
    if (claimed.kind === 'vip-changed') {
      if (attempt >= VIP_WRITE_ATTEMPTS) throw new Error(`the VIP record of cluster "${cluster.name}" kept changing; gave up after ${attempt} attempts: run it again`);
      continue;
    }
    if (claimed.kind === 'duplicate') throw new Error(`request id ${requestId} is already in the ledger; run it again`);

    // The ledger names the new holder: from here the controller, if it comes back, decides on it.
    const sourceDestCheckDisabled = check.sourceDestCheckToDisable && cluster.manageSourceDestCheck;
    const [rewritten] = await Promise.all([
      rewriteRoutes(ports.routeTables, cluster.vip, eni, plan.routes),
      sourceDestCheckDisabled ? ports.members.disableSourceDestCheck(eni) : undefined,
    ]);
    const ssmCommands: SsmCommandReport[] = [];
    let ssmFailure: string | null = null;
    if (input.ssm) {
      const target = { nodeAddress: ports.nodeAddress, cluster, requestId, instanceId, waitMs: input.ssmWaitMs };
      const others = othersToFence(members, instanceId);
      const [added, fenced] = await Promise.all([changeAddress(target, 'add'), others.length === 0 ? undefined : fence(target, others)]);
      ssmCommands.push(added.report, ...(fenced === undefined ? [] : [fenced]));
      ssmFailure = added.failure;
    }
    const failure = rewritten.failure ?? null;
    const result: BreakGlassResult = {
      requestId,
      cluster: cluster.name,
      vip: cluster.vip,
      instanceId,
      eni,
      operatorArn: input.operatorArn,
      outcome: failure === null ? 'applied' : 'failed',
      reason: [reason, failure, ssmFailure === null ? null : `VIP not confirmed on the interface: ${ssmFailure}`].filter((part) => part !== null).join('; '),
      holderBefore: vip?.holderInstanceId ?? null,
      holderAfter: instanceId,
      versionBefore: vip?.version ?? null,
      versionAfter: next?.version ?? vip?.version ?? null,
      routes: rewritten.routes,
      ssmCommands,
      sourceDestCheckDisabled,
      manualCommand: `sudo ip addr add ${cluster.vip}/32 dev ${cluster.interface}`,
    };
    await record(ports.ledger, result, { digest, claimToken, issuedAt, receivedAt, recordedAt: now(), ttlDays: input.ttlDays });
    return result;
  }
}

/** The instance's primary ENI: the one pgpool's interface (`ens5`/`eth0`) is. */
function primaryEni(target: Member | null): string {
  const primary = target?.interfaces.find((candidate) => candidate.deviceIndex === 0) ?? target?.interfaces[0];
  if (primary === undefined) throw new BreakGlassRefusedError(target === null ? 'the instance does not exist' : `instance ${target.instanceId} has no network interface`);
  return primary.eni;
}

/** The instance must be a running member in the cluster's VPC, with the ENI attached: as for a real `up`. */
function validated(cluster: ClusterConfig, routes: Parameters<typeof checkClusterNetwork>[1], target: Member | null, instanceId: string, eni: string) {
  try {
    const vpcId = checkClusterNetwork(cluster, routes, []);
    return checkMember({ instanceId, eni }, cluster, target, vpcId);
  } catch (error) {
    if (error instanceof RequestRejectedError) throw new BreakGlassRefusedError(error.message, { cause: error });
    throw new BreakGlassRefusedError(describeError(error), { cause: error });
  }
}

/** The request record over the break-glass's own claim: `pgpool-vip audit` lists it, marked break-glass. */
async function record(
  ledger: Ledger,
  result: BreakGlassResult,
  meta: { digest: string; claimToken: string; issuedAt: string; receivedAt: Date; recordedAt: Date; ttlDays: number },
): Promise<void> {
  const record: RequestRecord = {
    pk: requestKey(result.requestId),
    requestId: result.requestId,
    cluster: result.cluster,
    vip: result.vip,
    action: 'up',
    instanceId: result.instanceId,
    issuedAt: meta.issuedAt,
    status: result.outcome,
    reason: result.reason,
    failedStep: result.outcome === 'failed' ? 'route' : null,
    digest: meta.digest,
    callerArn: result.operatorArn,
    recordedAt: meta.recordedAt.toISOString(),
    attempts: 1,
    claimToken: meta.claimToken,
    holderBefore: result.holderBefore,
    holderAfter: result.holderAfter,
    routes: result.routes,
    ssmCommands: result.ssmCommands,
    durationMs: meta.recordedAt.getTime() - meta.receivedAt.getTime(),
    breakGlass: true,
    ttl: Math.floor(meta.recordedAt.getTime() / 1000) + meta.ttlDays * 86_400,
  };
  if (!(await ledger.recordOutcome(record))) throw new Error(`the break-glass record ${result.requestId} was claimed by someone else meanwhile`);
}

