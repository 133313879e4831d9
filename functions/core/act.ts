import type { EC2Client } from '@aws-sdk/client-ec2';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { ClusterConfig } from '../../lib/cluster-config.ts';
import type { RouteReport } from '../../lib/contract.ts';
import type { SsmCommandReport } from '../../lib/ledger-records.ts';
import { pointVipRoute } from '../adapters/ec2-routes.ts';
import type { InstanceFacts } from '../adapters/ec2-instances.ts';
import { sendAddressCommand, waitForInvocation, type AddressAction } from '../adapters/ssm-address.ts';
import type { RoutePlan, SwitchoverRequest } from './decide.ts';
import { describeError, type SwitchoverStep } from './steps.ts';

export interface ActContext {
  ec2: EC2Client;
  ssm: SSMClient;
  cluster: ClusterConfig;
  request: SwitchoverRequest;
  ssmWaitMs: number;
}

/** What acting did; `failure` names the first step that did not succeed. */
export interface ActReport {
  routes: RouteReport[];
  ssmCommands: SsmCommandReport[];
  failure: { step: SwitchoverStep; reason: string } | null;
}

/**
 * `up`: put the VIP on the new holder's interface while every table's route is rewritten
 * (tables in parallel). Fencing the other members is a separate step (`fenceOthers`), taken
 * only once this request is known not to have been overtaken.
 */
export async function moveVip(context: ActContext, routePlans: RoutePlan[]): Promise<ActReport> {
  const [added, rewritten] = await Promise.all([
    addressOnSender(context, 'add'),
    rewriteRoutes(context.ec2, context.cluster.vip, context.request.eni, routePlans),
  ]);
  const failure =
    rewritten.failure !== null
      ? { step: 'route' as const, reason: rewritten.failure }
      : added.failure !== null
        ? { step: 'ssm-add' as const, reason: added.failure }
        : null;
  return { routes: rewritten.routes, ssmCommands: [added.report], failure };
}

/**
 * Every other running member drops the VIP, without waiting for them: a dead old leader never
 * answers, and must not hold up the new one. Null when there is nobody to fence.
 */
export async function fenceOthers(context: ActContext, members: InstanceFacts[]): Promise<SsmCommandReport | null> {
  const others = members
    .filter((member) => member.instanceId !== context.request.instanceId && member.state === 'running')
    .map((member) => member.instanceId);
  if (others.length === 0) return null;
  return await fenceInstances({ ssm: context.ssm, cluster: context.cluster, requestId: context.request.requestId }, others);
}

/** Points VIP/32 at `eni` in every planned table, all tables at once; reports each table. */
export async function rewriteRoutes(
  ec2: EC2Client,
  vip: string,
  eni: string,
  plans: RoutePlan[],
): Promise<{ routes: RouteReport[]; failure: string | null }> {
  const results = await Promise.allSettled(
    plans.map(async (plan) => {
      if (plan.change === 'keep') return;
      await pointVipRoute(ec2, { routeTableId: plan.routeTableId, vip, eni, exists: plan.change === 'replace' });
    }),
  );
  const routes = plans.map((plan, index): RouteReport => ({
    ...plan,
    after: results[index]?.status === 'fulfilled' ? eni : plan.before,
  }));
  const failures = results.flatMap((result, index) =>
    result.status === 'rejected' ? [`route table ${plans[index]?.routeTableId}: ${describeError(result.reason)}`] : [],
  );
  return { routes, failure: failures.length === 0 ? null : failures.join('; ') };
}

/** `down`: take the VIP off the sender's interface only. Routes are never touched. */
export async function applyDown(context: ActContext): Promise<ActReport> {
  const removed = await addressOnSender(context, 'remove');
  return {
    routes: [],
    ssmCommands: [removed.report],
    failure: removed.failure === null ? null : { step: 'ssm-remove', reason: removed.failure },
  };
}

/** Runs the document on the sender and waits (bounded) for it, so the outcome tells the truth. */
async function addressOnSender(
  context: ActContext,
  action: Exclude<AddressAction, 'check'>,
): Promise<{ report: SsmCommandReport; failure: string | null }> {
  const instanceIds = [context.request.instanceId];
  let commandId: string;
  try {
    commandId = await sendAddressCommand(context.ssm, {
      document: context.cluster.ssmDocument,
      action,
      vip: context.cluster.vip,
      iface: context.cluster.interface,
      instanceIds,
      comment: `pgpool-vip ${action} ${context.cluster.vip} request ${context.request.requestId}`,
    });
  } catch (error) {
    return {
      report: { purpose: action, commandId: 'none', instanceIds, status: 'SendFailed' },
      failure: `SSM SendCommand (${action}) to ${context.request.instanceId} failed: ${describeError(error)}`,
    };
  }
  try {
    const result = await waitForInvocation(context.ssm, {
      commandId,
      instanceId: context.request.instanceId,
      timeoutMs: context.ssmWaitMs,
    });
    const report = { purpose: action, commandId, instanceIds, status: result.status };
    if (result.succeeded) return { report, failure: null };
    return {
      report,
      failure: result.finished
        ? `SSM command ${commandId} (${action}) on ${context.request.instanceId} ended ${result.status}: ${result.detail}`
        : `SSM command ${commandId} (${action}) on ${context.request.instanceId} did not finish within ${Math.round(context.ssmWaitMs / 1000)} s (last status ${result.status})`,
    };
  } catch (error) {
    return {
      report: { purpose: action, commandId, instanceIds, status: 'Unknown' },
      failure: `SSM GetCommandInvocation for ${commandId} failed: ${describeError(error)}`,
    };
  }
}

/** Fencing: the given members drop the VIP. Sent, not awaited; a send failure is reported, not fatal. */
export async function fenceInstances(
  context: { ssm: SSMClient; cluster: ClusterConfig; requestId: string },
  instanceIds: string[],
): Promise<SsmCommandReport> {
  try {
    const commandId = await sendAddressCommand(context.ssm, {
      document: context.cluster.ssmDocument,
      action: 'remove',
      vip: context.cluster.vip,
      iface: context.cluster.interface,
      instanceIds,
      comment: `pgpool-vip fence ${context.cluster.vip} request ${context.requestId}`,
    });
    return { purpose: 'remove', commandId, instanceIds, status: 'Sent' };
  } catch (error) {
    return { purpose: 'remove', commandId: 'none', instanceIds, status: `SendFailed: ${describeError(error)}`.slice(0, 200) };
  }
}
