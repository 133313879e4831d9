import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { ClusterConfig, ControllerConfig } from '../../lib/cluster-config.ts';
import type { RequestDetail } from '../../lib/contract.ts';
import { requestDigest } from '../../lib/digest.ts';
import { describeError, PgpoolVipError } from '../../lib/errors.ts';
import type { RequestRecord, SsmCommandReport, VipRecord } from '../../lib/ledger-records.ts';
import { METRIC_NAMESPACE, METRICS, SERVICE_NAME } from '../../lib/telemetry.ts';
import { ADDED_BY_AGENT, addToSender, changeAddress, fence, othersToFence, rewriteRoutes, type AddressTarget, type SenderAddress } from '../core/act.ts';
import { settleLateWrites } from '../core/late-writes.ts';
import { routesForTakeover } from '../core/route-takeover.ts';
import { decide, nextVipRecord, routePlansFor, type Handoff, type SwitchoverPlan } from '../core/decide.ts';
import { dryRunReport } from '../core/dry-run.ts';
import { checkClusterNetwork, checkMember } from '../core/member-check.ts';
import type { Member, RoutePlan, VipRoute } from '../core/model.ts';
import { clusterFor, identityOf, parseRequest, type RequestIdentity } from '../core/parse-request.ts';
import { laterLanding, RouteTableNotFoundError, type ClaimInput, type ClaimResult, type SwitchoverPorts } from '../core/ports.ts';
import { RequestRejectedError, StepFailedError, StepFaultError, stepTimer, verdictOfError, type Step } from '../core/steps.ts';
import { auditEntryOf, type AuditEntry, type SwitchoverOutcome } from '../core/switchover-outcome.ts';
import { checkProofOffline, confirmCaller } from '../core/verify-proof.ts';
import { deadlineAfter, underDeadline, type InvocationDeadline } from '../invocation-deadline.ts';
import { createLogger } from '../logger.ts';
import { recordOutcome } from './audit-trail.ts';

export interface SwitchoverDeps {
  config: ControllerConfig;
  /** The account whose instance roles may sign requests. */
  accountId: string;
  /** The controller's region: proofs must be scoped to it. */
  region: string;
  /** The controller's own STS endpoint: proofs must be signed for its host. */
  stsEndpoint: URL;
  ports: SwitchoverPorts;
  logger?: Logger;
  metrics?: Metrics;
  now?: () => Date;
}

/** What one invocation returns: the audit entry of the request (also logged). */
export type SwitchoverResult = AuditEntry;

/** Time kept back from Lambda's remaining time to record the outcome whatever happened before. */
const RECORD_RESERVE_MS = 3000;
/** The outcome record itself stops this long before Lambda's timeout, so the failure is ours to report. */
const RECORD_MARGIN_MS = 250;
/** A claim outlives its invocation by this much before a redelivery may take it over (clock skew). */
const CLAIM_LEASE_MARGIN_MS = 10_000;
/** Attempts at the VIP record's conditional write before giving up to a busier controller. */
const VIP_WRITE_ATTEMPTS = 3;
/** Time kept, before the steps' deadline, for settling late route writes once their wait is over. */
const SETTLE_TIME_MS = 2000;

/** What the steps have learnt so far; the outcome is built from it once, at the end. */
type Facts = Pick<SwitchoverOutcome, 'identity' | 'receivedAt'> & Partial<SwitchoverOutcome>;
/** How the request ended, as the last step saw it. */
type Verdict = Pick<SwitchoverOutcome, 'outcome' | 'reason' | 'failedStep'>;

/** What the controller sees of a cluster before it decides: read while STS checks the proof. */
interface Sight {
  vip: VipRecord | null;
  /** The request's own record, if an earlier delivery or attempt left one. */
  earlier: RequestRecord | null;
  routes: VipRoute[];
  members: Member[];
  /** The sender, member or not; null when EC2 does not know it. */
  sender: Member | null;
  vpcId: string;
}

/** What deciding and claiming under the VIP record's version produced. */
type Committed =
  | { kind: 'duplicate'; record: RequestRecord }
  /** The sender may not have the VIP; the refusal is recorded over the claim. */
  | { kind: 'refused'; attempts: number; claimToken: string; holderBefore: string | null; rejection: RequestRejectedError }
  | {
      kind: 'claimed';
      attempts: number;
      claimToken: string;
      plan: SwitchoverPlan;
      members: Member[];
      /** The VIP record this request wrote, or null when the plan leaves the ledger as it is (or in a dry run). */
      written: VipRecord | null;
      /** The VIP record the plan leads to (written unless a dry run), or null when it leaves the ledger as it is. */
      next: VipRecord | null;
      holderBefore: string | null;
      sourceDestCheckDisabled: boolean;
      /** Turning the receiver's source/dest check off failed beside a claim that landed; or null. */
      sourceDestCheckFailure: Error | null;
      /** The SSM add on the sender, sent as soon as the claim was won (an `up` in SSM mode); or null. */
      adding: Promise<SenderAddress> | null;
    };
type Decided = Extract<Committed, { kind: 'claimed' }>;

/**
 * Builds the Lambda handler. At most three AWS round trips lead to the route write, whatever the
 * number of tables: (1) STS confirms the proof while the ledger, the routes and the members are
 * read; (2) the claim and the VIP record are written in one transaction (beside the source/dest
 * check on a node's first `up`); (3) every table's route is written. SSM's add on the sender
 * goes as soon as (2)'s claim is won, without waiting for the source/dest check.
 */
export function createSwitchoverHandler(deps: SwitchoverDeps) {
  const { ports, config } = deps;
  const logger = deps.logger ?? createLogger();
  const metrics = deps.metrics ?? new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICE_NAME });
  const now = deps.now ?? (() => new Date());
  const vpcOfCluster = new Map<string, Promise<Map<string, string[]>>>();
  const audit = { ledger: ports.ledger, outcomeBus: ports.outcomeBus, logger, metrics, ttlDays: config.ledgerTtlDays, now };

  /** The story of one request. Each step returns what it learnt; the outcome is built once. */
  async function switchover(event: unknown, remainingMs: number, calls: InvocationDeadline): Promise<SwitchoverResult> {
    const startedAt = Date.now();
    const deadline = startedAt + remainingMs - RECORD_RESERVE_MS;
    // Every step, and every AWS call, stops at the deadline, a hung one included, so the outcome
    // is always recorded.
    const cutoff = deadlineAfter(deadline - startedAt, `stopped ${RECORD_RESERVE_MS} ms before the invocation's timeout to record the outcome`);
    calls.signal = cutoff.signal;
    const { step, durations } = stepTimer(undefined, cutoff.signal);
    let facts: Facts = { identity: identityOf(event), receivedAt: now() };
    let verdict: Verdict;
    // The token of the last claim sent: a claim whose answer was lost may have landed.
    const attempted: { claimToken: string | null } = { claimToken: null };
    try {
      const { request, cluster } = await step('parse', () => parsed(event));
      facts = { ...facts, interface: request.interface, eni: request.eni, digest: requestDigest(request), dryRun: request.dryRun === true };
      const policy = proofPolicy(cluster);
      await step('verify', () => checkProofOffline(request, policy, now()));
      // Reading changes nothing, so it need not wait for STS; writing does.
      const [callerArn, sight] = await proofFirst(
        step('verify', () => confirmCaller(request, policy, ports.callerIdentity)),
        step('read', () => look(cluster, request)),
      );
      facts = { ...facts, callerArn };
      const committed = await decideAndClaim(step, request, cluster, facts, sight, remainingMs, attempted, deadline);
      if (committed.kind === 'duplicate') return duplicateDelivery(facts, committed.record);
      facts = { ...facts, ...claimFacts(committed) };
      if (committed.kind === 'refused') throw committed.rejection;
      if (committed.sourceDestCheckFailure !== null) {
        facts = { ...facts, ssmCommands: await withdrawEarlyAdd(step, committed, request, cluster, deadline) };
        throw committed.sourceDestCheckFailure;
      }
      // A dry run stops here: decided and claimed, with no VIP record written; it reports the plan.
      const acted = request.dryRun === true ? planOnly(committed, request) : await act(step, committed, request, cluster, deadline);
      facts = { ...facts, ...acted.facts };
      verdict = acted.verdict;
      const { mayLandUntil } = acted;
      if (mayLandUntil !== null) ({ facts, verdict } = await step('late-writes', () => afterLateWrites(cluster, mayLandUntil, facts, verdict, deadline)));
    } catch (error) {
      verdict = verdictOfError(error);
      // Recorded over this invocation's own claim if it landed, so the request is not left claimed.
      if (facts.claimed !== true && attempted.claimToken !== null) facts = { ...facts, claimToken: attempted.claimToken };
      if (error instanceof StepFaultError || !(error instanceof PgpoolVipError)) {
        logger.error('unexpected error in switchover', { step: verdict.failedStep, error: describeError(error instanceof StepFaultError ? error.cause : error) });
      }
    } finally {
      cutoff.clear();
    }
    return await record(outcomeOf(facts, verdict, durations), startedAt + remainingMs - RECORD_MARGIN_MS - Date.now(), calls);
  }

  /**
   * Records the outcome within the time left before Lambda's timeout (less a margin): a ledger
   * that does not answer by then fails the invocation, and the claim's lease lets a redelivery in.
   */
  async function record(outcome: SwitchoverOutcome, leftMs: number, calls: InvocationDeadline): Promise<SwitchoverResult> {
    const recordCutoff = deadlineAfter(leftMs, 'the outcome could not be recorded before the invocation\'s timeout');
    calls.signal = recordCutoff.signal;
    try {
      const { step } = stepTimer();
      return await step('record', () => recordOutcome(audit, outcome, recordCutoff.signal));
    } finally {
      recordCutoff.clear();
    }
  }

  function parsed(event: unknown): { request: RequestDetail; cluster: ClusterConfig } {
    const request = parseRequest(event);
    return { request, cluster: clusterFor(config, request) };
  }

  function proofPolicy(cluster: ClusterConfig) {
    return { stsEndpoint: deps.stsEndpoint, region: deps.region, freshnessSeconds: config.proofFreshnessSeconds, accountId: deps.accountId, allowedRoles: cluster.allowedRoles };
  }

  /** The VIP record, the request's own record, the routes, the members and the VPC, all at once. */
  async function look(cluster: ClusterConfig, request: RequestDetail): Promise<Sight> {
    const [vip, earlier, routes, members, vpcs] = await Promise.all([
      ports.ledger.readVip(cluster.name),
      ports.ledger.readRequest(request.requestId),
      readRoutes(cluster),
      ports.members.listMembers(cluster.memberTag),
      vpcCidrs(cluster),
    ]);
    const vpcId = checkClusterNetwork(cluster, routes, []);
    checkClusterNetwork(cluster, routes, vpcs.get(vpcId) ?? []);
    // Only a sender that is no member costs one more call, to say why it is refused.
    const sender = members.find((member) => member.instanceId === request.instanceId) ?? (await ports.members.describeInstance(request.instanceId));
    return { vip, earlier, routes, members, sender, vpcId };
  }

  /**
   * Validates the sender, decides, and claims the request, writing the VIP record in the same
   * transaction when the plan changes it. If another controller changed the VIP record since it
   * was read, nothing was written: read again and decide again. A verified request that is
   * refused is claimed too, so that a redelivery is answered from the ledger.
   */
  async function decideAndClaim(
    step: Step,
    request: RequestDetail,
    cluster: ClusterConfig,
    facts: Facts,
    first: Sight,
    remainingMs: number,
    attempted: { claimToken: string | null },
    deadline: number,
  ): Promise<Committed> {
    let sight = first;
    let sourceDestCheckDisabled = false;
    for (let attempt = 1; ; attempt += 1) {
      const claim = claimInput(request, facts, sight.earlier, remainingMs);
      const check = await step('validate', () => memberCheck(request, cluster, sight));
      attempted.claimToken = claim.claimToken;
      if (check instanceof RequestRejectedError) {
        const claimed = await step('claim', () => ports.ledger.claim(claim));
        if (claimed.kind !== 'claimed') return claimed.kind === 'duplicate' ? claimed : unreachable(claimed);
        return { kind: 'refused', attempts: claimed.attempts, claimToken: claim.claimToken, holderBefore: sight.vip?.holderInstanceId ?? null, rejection: check };
      }
      const { vip, members } = sight;
      const holderRunning = members.some((member) => member.instanceId === vip?.holderInstanceId && member.state === 'running');
      const context = { holderRunning, canServe: (instanceId: string, eni: string) => servingEni(members, instanceId, eni) !== null };
      const plan = routesForTakeover(await step('decide', () => decide(request, vip, sight.routes, context)), vip, request.instanceId);
      const next = nextVipRecord(plan, { ...request, cluster: cluster.name }, vip, now());
      // Only a node about to receive VIP traffic needs its source/dest check off; beside the claim.
      const receiving = receivingEni(plan, request, check.sourceDestCheckToDisable, members);
      // A dry run claims its request id only: it writes no VIP record and changes no check.
      const dryRun = request.dryRun === true;
      const disableCheck: boolean = !dryRun && receiving !== null && !sourceDestCheckDisabled;
      const written = dryRun ? null : next;
      // SSM's delivery to the node is the longest wait of an `up` in SSM mode: its add goes as soon
      // as the claim is won (proof verified, member validated, ledger written), without waiting
      // for the source/dest check beside the claim. The routes still wait for both.
      const early: { adding: Promise<SenderAddress> | null } = { adding: null };
      const claiming = step('claim', () => ports.ledger.claim(claim, written === null ? undefined : { next: written, expectedVersion: vip?.version ?? null })).then((claimed) => {
        if (claimed.kind === 'claimed' && addsThroughSsm(plan, request)) {
          early.adding = step('ssm-add', () => addToSender(senderTarget(request, cluster, deadline)));
          // A step cut off by the deadline rejects: whoever awaits the add sees it.
          early.adding.catch(() => undefined);
        }
        return claimed;
      });
      // Both settle before either counts: a claim that landed beside a failed check must be
      // known, so that the failure is recorded over it rather than leaving the request claimed.
      const [claimSettled, checkSettled]: [PromiseSettledResult<ClaimResult>, PromiseSettledResult<void>] = await Promise.allSettled([
        claiming,
        disableCheck && receiving !== null ? step('source-dest-check', () => ports.members.disableSourceDestCheck(receiving)) : undefined,
      ]);
      if (claimSettled.status === 'rejected') throw claimSettled.reason;
      const claimed = claimSettled.value;
      const sourceDestCheckFailure: Error | null = checkSettled.status !== 'rejected' ? null : checkSettled.reason instanceof Error ? checkSettled.reason : new StepFaultError('source-dest-check', checkSettled.reason);
      sourceDestCheckDisabled ||= disableCheck && sourceDestCheckFailure === null;
      if (claimed.kind === 'duplicate') return claimed;
      if (claimed.kind === 'claimed') {
        return {
          kind: 'claimed',
          attempts: claimed.attempts,
          claimToken: claim.claimToken,
          plan,
          members,
          written,
          next,
          holderBefore: vip?.holderInstanceId ?? null,
          sourceDestCheckDisabled,
          sourceDestCheckFailure,
          adding: early.adding,
        };
      }
      // Nothing was claimed (the VIP record changed): a failed check fails the request here.
      if (sourceDestCheckFailure !== null) throw sourceDestCheckFailure;
      if (attempt >= VIP_WRITE_ATTEMPTS) {
        throw new StepFailedError('ledger', `the VIP record of cluster "${cluster.name}" kept changing under this request; gave up after ${attempt} attempts`);
      }
      sight = await step('read', () => look(cluster, request));
    }
  }

  /** The member check as a value: a refusal is returned, so the request can be claimed first. */
  function memberCheck(request: RequestDetail, cluster: ClusterConfig, sight: Sight) {
    try {
      return checkMember(request, cluster, sight.sender, sight.vpcId);
    } catch (error) {
      if (error instanceof RequestRejectedError) return error;
      throw error;
    }
  }

  /** The claim holds as long as this invocation may still run, and a little more. */
  function claimInput(request: RequestDetail, facts: Facts, earlier: RequestRecord | null, remainingMs: number): ClaimInput {
    const claimedAt = now();
    return {
      ...request,
      digest: facts.digest ?? '',
      callerArn: facts.callerArn ?? '',
      now: claimedAt,
      ttl: Math.floor(claimedAt.getTime() / 1000) + config.ledgerTtlDays * 86_400,
      leaseMs: remainingMs + CLAIM_LEASE_MARGIN_MS,
      claimToken: randomUUID(),
      attemptsBefore: earlier?.attempts ?? 0,
    };
  }

  /** At-least-once delivery: a request already decided is answered from the ledger, not redone. */
  function duplicateDelivery(facts: Facts, record: RequestRecord): AuditEntry {
    const { status } = record;
    const verdict: Verdict = {
      outcome: status === 'claimed' ? 'noop' : status,
      reason: record.reason ?? (status === 'claimed' ? 'already being handled' : null),
      failedStep: null,
    };
    const entry = auditEntryOf(outcomeOf(facts, verdict, {}), now(), true);
    logger.info('duplicate delivery ignored', { ...entry });
    metrics.addDimensions({ cluster: entry.cluster ?? 'unknown' });
    metrics.addMetric(METRICS.duplicateDeliveries, MetricUnit.Count, 1);
    return entry;
  }

  /**
   * Carries out the plan. `up`: the routes of every table and the VIP on the sender's interface at
   * once; then, unless a newer request took over meanwhile, the other members are fenced.
   * `down`: the VIP off the sender's interface only; routes are never touched.
   */
  async function act(step: Step, decided: Decided, request: RequestDetail, cluster: ClusterConfig, deadline: number) {
    const { plan, members, written } = decided;
    const target = senderTarget(request, cluster, deadline);
    if (plan.kind === 'stale') return { facts: {}, verdict: { outcome: 'stale', reason: plan.reason, failedStep: null } satisfies Verdict, mayLandUntil: null };
    if (plan.kind === 'down' && plan.handoff !== null && written !== null) return await handOver(step, plan.handoff, written, request, cluster, deadline);
    if (plan.kind === 'down') {
      const removed = await step('ssm-remove', () => changeAddress(target, 'remove'));
      const verdict: Verdict =
        removed.failure === null
          ? { outcome: plan.outcome, reason: null, failedStep: null }
          : { outcome: 'failed', reason: removed.failure, failedStep: 'ssm-remove' };
      return { facts: { ssmCommands: [removed.report] }, verdict, mayLandUntil: null };
    }
    // The routes never wait for SSM; whether a newer request overtook this one is asked as soon as
    // the routes are written, while SSM is still at work.
    const { routed, overtaken } = routeAndWatch(step, cluster, request.eni, plan.routes, written, request.instanceId);
    // An agent with CAP_NET_ADMIN put the VIP on its interface itself (the local fast path).
    const adding = decided.adding ?? (request.localAddress === true ? ADDED_BY_AGENT : step('ssm-add', () => addToSender(target)));
    // Every table points here and no newer request took the VIP: the agent may end its `up` once
    // the VIP is on its interface, without waiting for SSM's report and the outcome. Beside SSM;
    // a failed mark only leaves the agent waiting for the outcome, as before.
    const marked = Promise.all([routed, overtaken]).then(
      ([moved, newer]) => (moved.failure === null && newer === null ? ports.ledger.markRouted(request.requestId, decided.claimToken).catch(() => false) : false),
      () => false,
    );
    const [rewritten, added, newer] = await Promise.all([routed, adding, overtaken, marked]);
    if (newer !== null) {
      const converged = await step('route', () => convergeToHolder(cluster, newer, request.instanceId, request.requestId));
      const mayLandUntil = laterLanding(rewritten.mayLandUntil, converged.mayLandUntil);
      return { facts: { routes: converged.routes, ssmCommands: [...added.reports, converged.fenced], holderAfter: newer.holderInstanceId }, verdict: converged.verdict, mayLandUntil };
    }
    const failure =
      rewritten.failure !== null
        ? { failedStep: 'route' as const, reason: rewritten.failure }
        : added.failure !== null
          ? { failedStep: 'ssm-add' as const, reason: added.failure }
          : null;
    // After a failed move the old holder may still serve the tables not yet moved: keep it.
    const others = failure === null ? othersToFence(members, request.instanceId) : [];
    const fenced = others.length === 0 ? [] : [await step('ssm-remove', () => fence(target, others))];
    const verdict: Verdict = failure === null ? { outcome: plan.outcome, reason: null, failedStep: null } : { outcome: 'failed', ...failure };
    return { facts: { routes: rewritten.routes, ssmCommands: [...added.reports, ...fenced], holderAfter: request.instanceId }, verdict, mayLandUntil: rewritten.mayLandUntil };
  }

  /**
   * The holder released the VIP while the node it displaced still claims to lead: the VIP leaves
   * the sender and goes to that node, routes and interface at once, as its own `up` would have
   * done. Unless a newer request took the VIP meanwhile: then the routes follow that one.
   */
  async function handOver(step: Step, handoff: Handoff, written: VipRecord, request: RequestDetail, cluster: ClusterConfig, deadline: number) {
    const { claim } = handoff;
    const base = { nodeAddress: ports.nodeAddress, cluster, requestId: request.requestId, waitMs: ssmWaitMs(deadline) };
    const { routed, overtaken } = routeAndWatch(step, cluster, claim.eni, handoff.routes, written, claim.instanceId);
    const [rewritten, removed, added, newer] = await Promise.all([
      routed,
      step('ssm-remove', () => changeAddress({ ...base, instanceId: request.instanceId }, 'remove')),
      step('ssm-add', () => changeAddress({ ...base, instanceId: claim.instanceId }, 'add')),
      overtaken,
    ]);
    if (newer !== null) {
      const converged = await step('route', () => convergeToHolder(cluster, newer, claim.instanceId, request.requestId));
      const mayLandUntil = laterLanding(rewritten.mayLandUntil, converged.mayLandUntil);
      return { facts: { routes: converged.routes, ssmCommands: [removed.report, added.report, converged.fenced], holderAfter: newer.holderInstanceId }, verdict: converged.verdict, mayLandUntil };
    }
    const handed = `handed the VIP to ${claim.instanceId}, whose re-acquire ${claim.requestId} was held while ${request.instanceId} held it`;
    const failure =
      removed.failure !== null
        ? { failedStep: 'ssm-remove' as const, reason: removed.failure }
        : rewritten.failure !== null
          ? { failedStep: 'route' as const, reason: `${handed}; ${rewritten.failure}` }
          : added.failure !== null
            ? { failedStep: 'ssm-add' as const, reason: `${handed}; ${added.failure}` }
            : null;
    const verdict: Verdict = failure === null ? { outcome: 'applied', reason: handed, failedStep: null } : { outcome: 'failed', ...failure };
    return { facts: { routes: rewritten.routes, ssmCommands: [removed.report, added.report], holderAfter: claim.instanceId }, verdict, mayLandUntil: rewritten.mayLandUntil };
  }

  /** A dry run's result: the plan as `act` would carry it out, with nothing sent or written. */
  function planOnly(decided: Decided, request: RequestDetail) {
    const report = dryRunReport(decided.plan, decided.members, request);
    const verdict: Verdict = { outcome: report.outcome, reason: report.reason, failedStep: null };
    return { facts: { routes: report.routes, ssmCommands: report.ssmCommands }, verdict, mayLandUntil: null };
  }

  /**
   * Every planned table's route to `eni`, all at once; then, as soon as they are written, the VIP
   * record of a newer request for another instance that took the VIP meanwhile (null when there is
   * none, or when this request wrote no VIP record).
   */
  function routeAndWatch(step: Step, cluster: ClusterConfig, eni: string, plans: RoutePlan[], written: VipRecord | null, holder: string) {
    const routed = step('route', () => rewriteRoutes(ports.routeTables, cluster.vip, eni, plans));
    const overtaken = routed.then(() => (written === null ? null : step('ledger', () => supersedingRequest(cluster, written.version, holder))));
    return { routed, overtaken };
  }

  /** The sender's interface as SSM reaches it, with the wait cut to the time left. */
  function senderTarget(request: RequestDetail, cluster: ClusterConfig, deadline: number): AddressTarget {
    return { nodeAddress: ports.nodeAddress, cluster, requestId: request.requestId, instanceId: request.instanceId, waitMs: ssmWaitMs(deadline) };
  }

  /**
   * The source/dest check failed beside a claim that was won, after the SSM add had gone: the
   * request fails, so the add is taken back, unless the sender held the VIP before this request.
   * The remove waits for the add to have run (SSM Agent may run two commands for one instance at
   * once), so that the agent's resend, which follows the recorded failure, meets neither.
   */
  async function withdrawEarlyAdd(step: Step, decided: Decided, request: RequestDetail, cluster: ClusterConfig, deadline: number): Promise<SsmCommandReport[]> {
    if (decided.adding === null) return [];
    const added = await decided.adding.catch(() => null);
    if (added === null) return [];
    const sent = added.reports.some((report) => report.commandId !== 'none');
    if (!sent || decided.holderBefore === request.instanceId) return added.reports;
    // Cut off by the deadline, the remove is not reported; the check's failure still is.
    const removed = await step('ssm-remove', () => changeAddress(senderTarget(request, cluster, deadline), 'remove')).catch(() => null);
    return removed === null ? added.reports : [...added.reports, removed.report];
  }

  /** How long to wait for SSM on the sender: the configured wait, cut to the time left. */
  function ssmWaitMs(deadline: number): number {
    return Math.max(0, Math.min(config.ssmWaitSeconds * 1000, deadline - Date.now()));
  }

  /**
   * The VIP record of a newer request for another instance that replaced ours while we acted, or
   * null. A newer record for the sender itself (two overlapping `up`s of one leader) is no rival.
   */
  async function supersedingRequest(cluster: ClusterConfig, version: number, sender: string): Promise<VipRecord | null> {
    const current = await ports.ledger.readVip(cluster.name);
    if (current === null || current.version === version || current.released) return null;
    return current.holderInstanceId === sender ? null : current;
  }

  /**
   * A newer request took the VIP while this one was acting: whatever this one wrote must not
   * stand, so point the routes back at the newer holder and take the VIP off this sender. The
   * other members are not fenced here: the newer request does that.
   */
  async function convergeToHolder(cluster: ClusterConfig, holder: VipRecord, sender: string, requestId: string) {
    const rewritten = await rewriteRoutes(ports.routeTables, cluster.vip, holder.holderEni, routePlansFor(holder.holderEni, await readRoutes(cluster)));
    const fenced = await fence({ nodeAddress: ports.nodeAddress, cluster, requestId }, [sender]);
    const verdict: Verdict =
      rewritten.failure === null
        ? { outcome: 'stale', reason: `superseded while applying by request ${holder.upRequestId} of ${holder.holderInstanceId}`, failedStep: null }
        : {
            outcome: 'failed',
            failedStep: 'route',
            reason: `superseded by request ${holder.upRequestId} of ${holder.holderInstanceId}, and pointing the routes back at it failed: ${rewritten.failure}`,
          };
    return { routes: rewritten.routes, fenced, verdict, mayLandUntil: rewritten.mayLandUntil };
  }

  /**
   * A route write this request gave up on may still land: wait it out (within the time left) and
   * point every table at the ledger's holder of then (`functions/core/late-writes.ts`). A newer
   * holder found then means this request was superseded while applying, as when the check right
   * after the routes finds one.
   */
  async function afterLateWrites(cluster: ClusterConfig, mayLandUntil: number, before: Facts, verdict: Verdict, deadline: number): Promise<{ facts: Facts; verdict: Verdict }> {
    const settled = await settleLateWrites({ ledger: ports.ledger, routeTables: ports.routeTables, readRoutes }, cluster, mayLandUntil, deadline - SETTLE_TIME_MS);
    const { holder } = settled;
    logger.info('late route writes settled', { cluster: cluster.name, holder: holder?.holderInstanceId ?? null, pointedBack: settled.pointedBack, failure: settled.failure });
    if (settled.mayLandUntil !== null) {
      logger.warn('a route write given up on may still land after this request; the reconciler points it back', { cluster: cluster.name, until: new Date(settled.mayLandUntil).toISOString() });
    }
    const moved = holder !== null && holder.holderInstanceId !== before.holderAfter;
    const facts: Facts = { ...before, ...(settled.pointedBack || moved ? { routes: settled.routes } : {}), ...(moved ? { holderAfter: holder.released ? null : holder.holderInstanceId } : {}) };
    if (verdict.outcome === 'failed') return { facts, verdict };
    if (settled.failure !== null) {
      return { facts, verdict: { outcome: 'failed', failedStep: 'late-writes', reason: `pointing the routes at the holder after route writes given up on failed: ${settled.failure}` } };
    }
    if (!moved) return { facts, verdict };
    return { facts, verdict: { outcome: 'stale', reason: `superseded while applying by request ${holder.upRequestId} of ${holder.holderInstanceId}`, failedStep: null } };
  }

  async function readRoutes(cluster: ClusterConfig): Promise<VipRoute[]> {
    try {
      return await ports.routeTables.readVipRoutes(cluster.routeTables, cluster.vip);
    } catch (error) {
      if (error instanceof RouteTableNotFoundError) {
        throw new StepFailedError('configuration', `${error.message} (configured for cluster "${cluster.name}")`, { cause: error });
      }
      throw error;
    }
  }

  /**
   * The CIDR blocks of the region's VPCs, read once per container per cluster: a VPC's CIDRs do
   * not move under a running cluster. A failed read is not kept.
   */
  async function vpcCidrs(cluster: ClusterConfig): Promise<Map<string, string[]>> {
    let read = vpcOfCluster.get(cluster.name);
    if (read === undefined) {
      read = ports.members.vpcCidrs();
      vpcOfCluster.set(cluster.name, read);
      read.catch(() => vpcOfCluster.delete(cluster.name));
    }
    return await read;
  }

  return middy(async (event: unknown, context: Context) => {
    const calls: InvocationDeadline = {};
    return await underDeadline(calls, () => switchover(event, remainingTimeOf(context), calls));
  })
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics));
}

/** The ENI of `instanceId` if it is a running member with `eni` attached, else null. */
function servingEni(members: readonly Member[], instanceId: string, eni: string) {
  const member = members.find((candidate) => candidate.instanceId === instanceId && candidate.state === 'running');
  return member?.interfaces.find((candidate) => candidate.eni === eni && candidate.attached) ?? null;
}

/**
 * The ENI whose source/dest check must be turned off before it receives VIP traffic: the sender's
 * on an `up` (the member check says whether it is on), the claimant's on a hand-over; else null.
 */
function receivingEni(plan: SwitchoverPlan, request: RequestDetail, senderCheckOn: boolean, members: readonly Member[]): string | null {
  if (plan.kind === 'up') return senderCheckOn ? request.eni : null;
  if (plan.kind !== 'down' || plan.handoff === null) return null;
  const { instanceId, eni } = plan.handoff.claim;
  return servingEni(members, instanceId, eni)?.sourceDestCheck === false ? null : eni;
}

/** An `up` whose VIP SSM puts on the sender: not a dry run, and not one whose agent added it itself. */
function addsThroughSsm(plan: SwitchoverPlan, request: RequestDetail): boolean {
  return plan.kind === 'up' && request.localAddress !== true && request.dryRun !== true;
}

/** What a claim adds to the facts: the attempt, and where the VIP stands once the ledger is written. */
function claimFacts(decided: Exclude<Committed, { kind: 'duplicate' }>): Partial<SwitchoverOutcome> {
  const { claimToken } = decided;
  if (decided.kind === 'refused') return { claimed: true, claimToken, attempts: decided.attempts, holderBefore: decided.holderBefore, holderAfter: decided.holderBefore };
  const holderAfter = decided.next === null ? decided.holderBefore : decided.next.released ? null : decided.next.holderInstanceId;
  return { claimed: true, claimToken, attempts: decided.attempts, holderBefore: decided.holderBefore, holderAfter, sourceDestCheckDisabled: decided.sourceDestCheckDisabled };
}

/** A claim without a VIP write cannot meet a changed VIP record. */
function unreachable(result: { kind: 'vip-changed' }): never {
  throw new StepFailedError('claim', `the ledger answered ${result.kind} to a claim without a VIP record`);
}

/**
 * Both answers, or the first failure, where the proof's comes first: a forged request is refused
 * as forged even when a read failed beside it.
 */
async function proofFirst<A, B>(proof: Promise<A>, read: Promise<B>): Promise<[A, B]> {
  const [proved, seen] = await Promise.allSettled([proof, read]);
  if (proved.status === 'rejected') throw proved.reason;
  if (seen.status === 'rejected') throw seen.reason;
  return [proved.value, seen.value];
}

/** Lambda's remaining time; outside Lambda (no such function) a generous default. */
function remainingTimeOf(context: Context): number {
  return typeof context.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : 60_000;
}

/** The one outcome of a request, from what the steps learnt and how it ended. */
function outcomeOf(facts: Facts, verdict: Verdict, durationsMs: SwitchoverOutcome['durationsMs']): SwitchoverOutcome {
  return {
    interface: null,
    eni: null,
    callerArn: null,
    digest: null,
    claimed: false,
    claimToken: null,
    attempts: 0,
    holderBefore: null,
    holderAfter: null,
    routes: [],
    ssmCommands: [],
    sourceDestCheckDisabled: false,
    dryRun: false,
    ...facts,
    ...verdict,
    durationsMs,
  };
}

export type { RequestIdentity };
