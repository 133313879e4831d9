import { createLogger } from '../logger.ts';
import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { HttpHandler } from '@smithy/protocol-http';
import type { Context } from 'aws-lambda';
import type { ClusterConfig, ControllerConfig } from '../../lib/cluster-config.ts';
import type { RequestDetail } from '../../lib/contract.ts';
import { requestDigest } from '../../lib/digest.ts';
import { METRIC_NAMESPACE, METRICS, SERVICE_NAME } from '../../lib/telemetry.ts';
import { describeVipRoutes, RouteTableNotFoundError, type VipRoute } from '../adapters/ec2-routes.ts';
import {
  describeInstance,
  describeMembers,
  describeVpcCidrs,
  disableSourceDestCheck,
  type InstanceFacts,
} from '../adapters/ec2-instances.ts';
import { Ledger } from '../adapters/ledger.ts';
import type { VipRecord } from '../../lib/ledger-records.ts';
import { applyDown, fenceInstances, fenceOthers, moveVip, rewriteRoutes } from '../core/act.ts';
import { decide, nextVipRecord, routePlansFor, type SwitchoverPlan } from '../core/decide.ts';
import { describeError, RequestRejectedError, StepFailedError, type SwitchoverStep } from '../core/steps.ts';
import { clusterFor, identityOf, parseRequest } from '../core/parse-request.ts';
import { auditEntryOf, recordOutcome, type AuditEntry, type SwitchoverOutcome } from '../core/switchover-outcome.ts';
import { checkClusterNetwork, checkMember } from '../core/member-check.ts';
import { verifyProof } from '../core/verify-proof.ts';

/** Deployment settings, read once at start-up (handler.ts) or given by the local controller. */
export interface SwitchoverSettings {
  ledgerTable: string;
  busName: string;
  accountId: string;
  /** The controller's region: proofs must be scoped to it. */
  region: string;
  stsEndpoint: URL;
}

export interface SwitchoverDeps {
  config: ControllerConfig;
  settings: SwitchoverSettings;
  ec2: EC2Client;
  ssm: SSMClient;
  dynamodb: DynamoDBClient;
  eventbridge: EventBridgeClient;
  /** Sends the proof to STS; injected so tests can see that nothing was sent. */
  stsHttp: HttpHandler;
  logger?: Logger;
  metrics?: Metrics;
  now?: () => Date;
}

/** What one invocation returns: the audit entry of the request (also logged). */
export type SwitchoverResult = AuditEntry;

/**
 * A claim left unfinished this long (the controller died) may be taken again by a redelivery.
 * Longer than any invocation can run (its timeout is ssmWaitSeconds plus a margin), so a live
 * invocation's claim is never taken over.
 */
const CLAIM_LEASE_MARGIN_SECONDS = 90;
/** Attempts at the VIP record's conditional write before giving up to a busier controller. */
const VIP_WRITE_ATTEMPTS = 3;

/** Builds the Lambda handler: parse -> verify -> claim -> validate -> decide -> act -> record. */
export function createSwitchoverHandler(deps: SwitchoverDeps) {
  const logger = deps.logger ?? createLogger();
  const metrics = deps.metrics ?? new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICE_NAME });
  const now = deps.now ?? (() => new Date());
  const ledger = new Ledger(deps.dynamodb, deps.settings.ledgerTable);
  const vpcOfCluster = new Map<string, Promise<string>>();
  const claimLeaseMs = (deps.config.ssmWaitSeconds + CLAIM_LEASE_MARGIN_SECONDS) * 1000;
  const recordDeps = {
    ledger,
    eventbridge: deps.eventbridge,
    busName: deps.settings.busName,
    logger,
    metrics,
    ttlDays: deps.config.ledgerTtlDays,
    now,
  };

  async function switchover(event: unknown): Promise<SwitchoverResult> {
    const receivedAt = now();
    const outcome: SwitchoverOutcome = {
      outcome: 'rejected',
      reason: null,
      failedStep: null,
      identity: identityOf(event),
      interface: null,
      eni: null,
      callerArn: null,
      digest: null,
      claimed: false,
      attempts: 0,
      holderBefore: null,
      holderAfter: null,
      routes: [],
      ssmCommands: [],
      sourceDestCheckDisabled: false,
      receivedAt,
      durationsMs: {},
    };
    const timed = async <T>(step: SwitchoverStep, work: () => Promise<T> | T): Promise<T> => {
      const started = Date.now();
      try {
        return await work();
      } finally {
        outcome.durationsMs[step] = (outcome.durationsMs[step] ?? 0) + Date.now() - started;
      }
    };

    try {
      const request = await timed('parse', () => parseRequest(event));
      outcome.interface = request.interface;
      outcome.eni = request.eni;
      outcome.digest = requestDigest(request);
      const cluster = clusterFor(deps.config, request);
      outcome.callerArn = await timed('verify', () =>
        verifyProof(request, proofPolicy(deps, cluster), deps.stsHttp, now()),
      );
      const claim = await timed('claim', () =>
        ledger.claim({
          ...request,
          digest: outcome.digest ?? '',
          callerArn: outcome.callerArn ?? '',
          now: now(),
          ttl: Math.floor(now().getTime() / 1000) + deps.config.ledgerTtlDays * 86_400,
          leaseMs: claimLeaseMs,
          claimToken: randomUUID(),
        }),
      );
      if (claim.kind === 'duplicate') return duplicateDelivery(outcome, claim.record.status, claim.record.reason ?? null);
      outcome.claimed = true;
      outcome.attempts = claim.attempts;

      const { plan, members, written } = await decideUnderVersion(request, cluster, outcome, timed);
      await act(plan, request, cluster, members, written, outcome, timed);
    } catch (error) {
      if (error instanceof RequestRejectedError) {
        outcome.outcome = 'rejected';
        outcome.failedStep = error.step;
        outcome.reason = error.message;
      } else {
        outcome.outcome = 'failed';
        outcome.failedStep = error instanceof StepFailedError ? error.step : 'unexpected';
        outcome.reason = describeError(error);
        if (!(error instanceof StepFailedError)) logger.error('unexpected error in switchover', { error: describeError(error) });
      }
    }
    return await timed('record', () => recordOutcome(recordDeps, outcome));
  }

  /** At-least-once delivery: a request already decided is answered from the ledger, not redone. */
  function duplicateDelivery(outcome: SwitchoverOutcome, status: string, reason: string | null): AuditEntry {
    const entry = auditEntryOf(
      { ...outcome, outcome: status === 'claimed' ? 'noop' : (status as SwitchoverOutcome['outcome']), reason: reason ?? (status === 'claimed' ? 'already being handled' : null) },
      now(),
      true,
    );
    logger.info('duplicate delivery ignored', { ...entry });
    metrics.addDimensions({ cluster: entry.cluster ?? 'unknown' });
    metrics.addMetric(METRICS.duplicateDeliveries, MetricUnit.Count, 1);
    return entry;
  }

  /**
   * Reads the VIP record, the routes and the members together, validates the sender, decides,
   * and writes the VIP record with a conditional write; a lost race re-reads and decides again.
   */
  async function decideUnderVersion(
    request: RequestDetail,
    cluster: ClusterConfig,
    outcome: SwitchoverOutcome,
    timed: <T>(step: SwitchoverStep, work: () => Promise<T> | T) => Promise<T>,
  ) {
    for (let attempt = 1; ; attempt += 1) {
      const [vip, routes, members] = await timed('validate', () =>
        Promise.all([ledger.readVip(cluster.name), readRoutes(cluster), describeMembers(deps.ec2, cluster.memberTag)]),
      );
      outcome.holderBefore = vip?.holderInstanceId ?? null;
      outcome.holderAfter = outcome.holderBefore;
      const vpcId = await clusterVpc(cluster, routes);
      const sender =
        members.find((member) => member.instanceId === request.instanceId) ??
        (await describeInstance(deps.ec2, request.instanceId));
      const check = checkMember(request, cluster, sender, vpcId);
      const holderRunning = members.some((member) => member.instanceId === vip?.holderInstanceId && member.state === 'running');
      const plan = await timed('decide', () =>
        decide(request, vip, routes, { holderRunning }),
      );
      // Only a node about to receive VIP traffic needs its source/dest check off; beside the write.
      const sourceDestCheck =
        plan.kind === 'up' && check.sourceDestCheckToDisable && !outcome.sourceDestCheckDisabled
          ? timed('validate', () => disableSourceDestCheck(deps.ec2, request.eni)).then(() => {
              outcome.sourceDestCheckDisabled = true;
            })
          : Promise.resolve();
      const next = nextVipRecord(plan, { ...request, cluster: cluster.name }, vip, now());
      const [written] = await Promise.all([
        next === null ? true : timed('ledger', () => ledger.writeVip(next, vip?.version ?? null)),
        sourceDestCheck,
      ]);
      if (next === null) return { plan, members, written: null };
      if (written) {
        outcome.holderAfter = next.released ? null : next.holderInstanceId;
        return { plan, members, written: next };
      }
      if (attempt >= VIP_WRITE_ATTEMPTS) {
        throw new StepFailedError('ledger', `the VIP record of cluster "${cluster.name}" kept changing under this request; gave up after ${attempt} attempts`);
      }
    }
  }

  /** Carries out the plan and sets the outcome: applied/noop, stale, or failed with its step. */
  async function act(
    plan: SwitchoverPlan,
    request: RequestDetail,
    cluster: ClusterConfig,
    members: InstanceFacts[],
    written: VipRecord | null,
    outcome: SwitchoverOutcome,
    timed: <T>(step: SwitchoverStep, work: () => Promise<T> | T) => Promise<T>,
  ): Promise<void> {
    const context = { ec2: deps.ec2, ssm: deps.ssm, cluster, request, ssmWaitMs: deps.config.ssmWaitSeconds * 1000 };
    if (plan.kind === 'stale') {
      outcome.outcome = 'stale';
      outcome.reason = plan.reason;
      return;
    }
    const report =
      plan.kind === 'down'
        ? await timed('ssm-remove', () => applyDown(context))
        : await timed('route', () => moveVip(context, plan.routes));
    outcome.routes = report.routes;
    outcome.ssmCommands = report.ssmCommands;
    outcome.outcome = plan.outcome;
    if (plan.kind === 'up') {
      outcome.holderAfter = request.instanceId;
      const newer = written === null ? null : await timed('ledger', () => supersedingRequest(cluster, written.version, request.instanceId));
      if (newer !== null) {
        await timed('route', () => convergeToHolder(cluster, newer, request, outcome));
        return;
      }
      // After a failed move the old holder may still serve the tables not yet moved: keep it.
      const fenced = report.failure === null ? await timed('ssm-remove', () => fenceOthers(context, members)) : null;
      if (fenced !== null) outcome.ssmCommands.push(fenced);
    }
    if (report.failure !== null) {
      outcome.outcome = 'failed';
      outcome.failedStep = report.failure.step;
      outcome.reason = report.failure.reason;
    }
  }

  /**
   * The VIP record of a newer request for another instance that replaced ours while we acted, or
   * null. A newer record for the sender itself (two overlapping `up`s of one leader) is no rival.
   */
  async function supersedingRequest(cluster: ClusterConfig, version: number, sender: string): Promise<VipRecord | null> {
    const current = await ledger.readVip(cluster.name);
    if (current === null || current.version === version || current.released) return null;
    return current.holderInstanceId === sender ? null : current;
  }

  /**
   * A newer request took the VIP while this one was acting: whatever this one wrote must not
   * stand, so point the routes back at the newer holder and take the VIP off this sender. The
   * other members are not fenced here: the newer request does that.
   */
  async function convergeToHolder(
    cluster: ClusterConfig,
    holder: VipRecord,
    request: RequestDetail,
    outcome: SwitchoverOutcome,
  ): Promise<void> {
    const rewritten = await rewriteRoutes(deps.ec2, cluster.vip, holder.holderEni, routePlansFor(holder.holderEni, await readRoutes(cluster)));
    outcome.routes = rewritten.routes;
    outcome.ssmCommands.push(await fenceInstances({ ssm: deps.ssm, cluster, requestId: request.requestId }, [request.instanceId]));
    outcome.holderAfter = holder.holderInstanceId;
    if (rewritten.failure !== null) {
      outcome.outcome = 'failed';
      outcome.failedStep = 'route';
      outcome.reason = `superseded by request ${holder.upRequestId} of ${holder.holderInstanceId}, and pointing the routes back at it failed: ${rewritten.failure}`;
      return;
    }
    outcome.outcome = 'stale';
    outcome.reason = `superseded while applying by request ${holder.upRequestId} of ${holder.holderInstanceId}`;
  }

  async function readRoutes(cluster: ClusterConfig): Promise<VipRoute[]> {
    try {
      return await describeVipRoutes(deps.ec2, cluster.routeTables, cluster.vip);
    } catch (error) {
      if (error instanceof RouteTableNotFoundError) {
        throw new StepFailedError('configuration', `${error.message} (configured for cluster "${cluster.name}")`, { cause: error });
      }
      throw error;
    }
  }

  /** The cluster's VPC, checked once per container: one VPC, and the VIP outside its CIDR. */
  async function clusterVpc(cluster: ClusterConfig, routes: VipRoute[]): Promise<string> {
    let checked = vpcOfCluster.get(cluster.name);
    if (checked === undefined) {
      checked = (async () => {
        const vpcId = checkClusterNetwork(cluster, routes, []);
        checkClusterNetwork(cluster, routes, await describeVpcCidrs(deps.ec2, vpcId));
        return vpcId;
      })();
      vpcOfCluster.set(cluster.name, checked);
      checked.catch(() => vpcOfCluster.delete(cluster.name));
    }
    return await checked;
  }

  return middy(async (event: unknown, _context: Context) => await switchover(event))
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics));
}

function proofPolicy(deps: SwitchoverDeps, cluster: ClusterConfig) {
  return {
    stsEndpoint: deps.settings.stsEndpoint,
    region: deps.settings.region,
    freshnessSeconds: deps.config.proofFreshnessSeconds,
    accountId: deps.settings.accountId,
    allowedRoles: cluster.allowedRoles,
  };
}
