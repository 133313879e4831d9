import { createLogger } from '../logger.ts';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { ClusterConfig, ControllerConfig } from '../../lib/cluster-config.ts';
import { PgpoolVipError } from '../../lib/errors.ts';
import { METRIC_NAMESPACE, SERVICE_NAME } from '../../lib/telemetry.ts';
import { describeError } from '../../lib/errors.ts';
import type { ReconcilePorts } from '../core/ports.ts';
import { parseTrigger, type ReconcileTrigger } from './events.ts';
import { findDrift, HEALABLE_KINDS, healDecision, type Drift } from '../core/drift.ts';
import { healRoutes, type HealResult, type HealResults } from './heal.ts';
import { InterfaceCheckSchedule, type InterfaceCheckOptions } from './interface-check.ts';
import { observeCluster, type ClusterObservation } from './observe.ts';
import { driftRecordOf, recordClusterReport, type ClusterReport } from './record-drift.ts';

export interface ReconcileDeps {
  config: ControllerConfig;
  ports: ReconcilePorts;
  /** Off unless given: see InterfaceCheckOptions (each check runs a command on the node). */
  interfaceCheck?: InterfaceCheckOptions;
  /**
   * A drift is reported only if a second look this much later still sees it, so a switchover in
   * flight (ledger written, routes not yet) is not taken for drift. Default 15 s.
   */
  confirmDelayMs?: number;
  logger?: Logger;
  metrics?: Metrics;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

/** What one run did: one report per cluster checked; `ignored` says why nothing was checked. */
export interface ReconcileResult {
  trigger: ReconcileTrigger;
  ignored: string | null;
  clusters: ClusterReport[];
}

/** Some clusters could not be checked; the others were checked and reported. */
export class ReconcileFailedError extends PgpoolVipError {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ReconcileFailedError';
  }
}

const DEFAULT_CONFIRM_DELAY_MS = 15_000;

/** Builds the reconciler: trigger -> clusters -> observe -> find drift -> confirm -> heal (opt-in) -> record. */
export function createReconcileHandler(deps: ReconcileDeps) {
  const logger = deps.logger ?? createLogger();
  const metrics = deps.metrics ?? new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICE_NAME });
  const now = deps.now ?? (() => new Date());
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const confirmDelayMs = deps.confirmDelayMs ?? DEFAULT_CONFIRM_DELAY_MS;
  const interfaceChecks = new InterfaceCheckSchedule(deps.interfaceCheck, () => now().getTime());

  async function reconcile(event: unknown): Promise<ReconcileResult> {
    const trigger = parseTrigger(event);
    const clusters = await clustersConcerned(trigger);
    if (clusters.length === 0) {
      const ignored = trigger.kind === 'instance-state' ? `instance ${trigger.instanceId} is not a member of any cluster` : 'no cluster configured';
      logger.debug('reconcile: nothing to check', { trigger, ignored });
      return { trigger, ignored, clusters: [] };
    }
    const settled = await Promise.allSettled(clusters.map((cluster) => checkCluster(cluster, trigger)));
    const reports: ClusterReport[] = [];
    const failures: string[] = [];
    settled.forEach((result, index) => {
      const name = clusters[index]?.name ?? 'unknown';
      if (result.status === 'fulfilled') {
        recordClusterReport(result.value, logger, metrics);
        reports.push(result.value);
      } else {
        logger.error('cluster could not be checked', { cluster: name, error: describeError(result.reason) });
        failures.push(`cluster "${name}": ${describeError(result.reason)}`);
      }
    });
    if (failures.length > 0) throw new ReconcileFailedError(`reconcile could not check ${failures.join('; ')}`);
    return { trigger, ignored: null, clusters: reports };
  }

  /** The schedule checks every cluster; a state change only the clusters the instance is a member of. */
  async function clustersConcerned(trigger: ReconcileTrigger): Promise<ClusterConfig[]> {
    if (trigger.kind === 'schedule') return deps.config.clusters;
    const instance = await deps.ports.members.describeInstance(trigger.instanceId);
    if (instance === null) return [];
    return deps.config.clusters.filter((cluster) => instance.tags[cluster.memberTag.key] === cluster.memberTag.value);
  }

  async function checkCluster(cluster: ClusterConfig, trigger: ReconcileTrigger): Promise<ClusterReport> {
    let observation = await observeCluster(deps.ports, cluster);
    let drifts = driftsOf(cluster, observation);
    if (drifts.length > 0 && confirmDelayMs > 0) {
      const first = drifts;
      await sleep(confirmDelayMs);
      observation = await observeCluster(deps.ports, cluster);
      drifts = driftsOf(cluster, observation).filter((drift) => first.some((seen) => sameDrift(seen, drift)));
    }
    const interfaceCheck = await checkInterface(cluster, observation, drifts);
    if (interfaceCheck === 'absent') {
      drifts = [...drifts, ...driftsOf(cluster, observation).filter((drift) => drift.kind === 'vip-not-on-interface')];
    }

    const decision = healDecision(cluster, observation.vip, drifts);
    const toHeal = drifts.filter((drift) => HEALABLE_KINDS.has(drift.kind));
    const healed: HealResults =
      decision.heal && observation.vip !== null && toHeal.length > 0
        ? await healRoutes({ ports: deps.ports, logger }, cluster, observation.vip, toHeal)
        : new Map<string, HealResult>();
    const checkedAt = now();
    const holder = observation.vip?.holderInstanceId ?? null;
    return {
      cluster: cluster.name,
      vip: cluster.vip,
      healthy: drifts.length === 0,
      interfaceCheck,
      drifts: drifts.map((drift) => {
        const result = drift.routeTableId === null ? undefined : healed.get(drift.routeTableId);
        const healNote = !HEALABLE_KINDS.has(drift.kind) ? null : result?.note ?? (decision.heal ? null : decision.why);
        return driftRecordOf(cluster, drift, { holder, healed: result?.healed ?? false, healNote, trigger, checkedAt });
      }),
    };
  }

  /** Asks the holder about its interface only when everything else about it looks right. */
  async function checkInterface(cluster: ClusterConfig, observation: ClusterObservation, drifts: Drift[]) {
    const { vip, holder } = observation;
    const holderDrift = drifts.some((drift) => drift.routeTableId === null);
    if (vip === null || holder === null || holderDrift) return 'not-checked' as const;
    try {
      holder.vipOnInterface = await interfaceChecks.check(cluster, vip.holderInstanceId);
    } catch (error) {
      logger.warn('interface check failed', { cluster: cluster.name, holder: vip.holderInstanceId, error: describeError(error) });
      holder.vipOnInterface = 'unknown';
    }
    if (holder.vipOnInterface === 'unknown') logger.warn('interface check inconclusive', { cluster: cluster.name, holder: vip.holderInstanceId });
    return holder.vipOnInterface;
  }

  return middy(async (event: unknown, _context: Context) => await reconcile(event)).use(injectLambdaContext(logger));
}

function driftsOf(cluster: ClusterConfig, observation: ClusterObservation): Drift[] {
  return findDrift(cluster, observation.vip, observation.routes, observation.holder);
}

function sameDrift(a: Drift, b: Drift): boolean {
  return a.kind === b.kind && a.routeTableId === b.routeTableId;
}
