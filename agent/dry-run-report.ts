import type { SwitchoverAction } from '../lib/contract.ts';
import type { SettledRecord } from './outcome.ts';

/** What a dry run was about: the request as sent. */
export interface DryRunSubject {
  action: SwitchoverAction;
  vip: string;
  iface: string;
  instanceId: string;
  eni: string;
  requestId: string;
}

/** `pgpool-vip up --dry-run --json`: one document, the controller's answer and its plan. */
export interface DryRunDocument extends DryRunSubject {
  dryRun: true;
  /** What the real run would end with: applied or noop (it would be done), stale, rejected, failed. */
  outcome: SettledRecord['status'];
  reason: string | null;
  failedStep: string | null;
  holderBefore: string | null;
  holderAfter: string | null;
  routes: Array<{ routeTableId: string; before: string | null; after: string | null; change: string }>;
  ssmCommands: Array<{ purpose: string; instanceIds: string[] }>;
}

export function dryRunDocument(subject: DryRunSubject, outcome: SettledRecord): DryRunDocument {
  const plan = outcome.plan;
  return {
    dryRun: true,
    ...subject,
    outcome: outcome.status,
    reason: outcome.reason ?? null,
    failedStep: outcome.failedStep ?? null,
    holderBefore: plan?.holderBefore ?? null,
    holderAfter: plan?.holderAfter ?? null,
    routes: plan?.routes ?? [],
    ssmCommands: (plan?.ssmCommands ?? []).map(({ purpose, instanceIds }) => ({ purpose, instanceIds })),
  };
}

/** True when the controller's record says it treated the request as a dry run (changed nothing). */
export function answeredAsDryRun(outcome: SettledRecord): boolean {
  return outcome.plan?.dryRun === true;
}

const holderName = (holder: string | null): string => holder ?? 'none';

/** The plan as stdout lines: what the real run would answer, then each route and SSM command. */
export function dryRunLines(document: DryRunDocument): string[] {
  const { action, vip, iface, instanceId, eni, requestId, outcome } = document;
  const done = outcome === 'applied' || outcome === 'noop';
  const lines = [
    `pgpool-vip: dry run of ${action} ${vip} on ${iface} (${instanceId}, ${eni}): the controller would answer ${outcome}, request ${requestId}; nothing was changed`,
  ];
  if (document.reason !== null) lines.push(`pgpool-vip:   reason: ${document.reason}`);
  if (!done) return lines;
  lines.push(`pgpool-vip:   holder: ${holderName(document.holderBefore)} -> ${holderName(document.holderAfter)}`);
  if (document.routes.length === 0) lines.push('pgpool-vip:   routes: none changed (a down never touches a route)');
  for (const route of document.routes) {
    lines.push(`pgpool-vip:   route ${vip}/32 in ${route.routeTableId}: ${route.change} (${route.before ?? 'absent'} -> ${route.after ?? 'absent'})`);
  }
  for (const command of document.ssmCommands) {
    const what = command.purpose === 'add' ? `add ${vip} to ${iface} on` : `remove ${vip} from ${iface} on`;
    lines.push(`pgpool-vip:   SSM: ${what} ${command.instanceIds.join(', ')} (not sent)`);
  }
  return lines;
}
