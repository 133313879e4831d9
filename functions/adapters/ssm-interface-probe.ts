import type { SSMClient } from '@aws-sdk/client-ssm';
import type { InterfaceFinding } from '../core/model.ts';
import type { InterfaceProbe } from '../core/ports.ts';
import { sendAddressCommand, waitForInvocation } from './ssm-address.ts';

/** The interface probe through the project's SSM document (needs its `check` action). */
export function ssmInterfaceProbe(ssm: SSMClient, timeoutMs: number): InterfaceProbe {
  return async ({ cluster, instanceId }) =>
    (
      await checkVipOnInterface(ssm, {
        document: cluster.ssmDocument,
        vip: cluster.vip,
        iface: cluster.interface,
        instanceId,
        timeoutMs,
      })
    ).finding;
}

export interface InterfaceCheckRequest {
  document: string;
  vip: string;
  iface: string;
  instanceId: string;
  timeoutMs: number;
}

/**
 * Asks the node, through the project's SSM document's `check` action (it changes nothing and
 * prints `present` or `absent`), whether the VIP is on its interface.
 */
export async function checkVipOnInterface(
  ssm: SSMClient,
  request: InterfaceCheckRequest,
  sleep?: (ms: number) => Promise<void>,
): Promise<{ finding: InterfaceFinding; commandId: string; detail: string }> {
  const commandId = await sendAddressCommand(ssm, {
    document: request.document,
    action: 'check',
    vip: request.vip,
    iface: request.iface,
    instanceIds: [request.instanceId],
  });
  const result = await waitForInvocation(
    ssm,
    { commandId, instanceId: request.instanceId, timeoutMs: request.timeoutMs, pollMs: 500 },
    sleep,
  );
  if (!result.finished) return { finding: 'unknown', commandId, detail: `did not finish in time (${result.status})` };
  if (!result.succeeded) return { finding: 'unknown', commandId, detail: `${result.status}: ${result.detail}` };
  if (/^present\b/m.test(result.output)) return { finding: 'present', commandId, detail: result.output };
  if (/^absent\b/m.test(result.output)) return { finding: 'absent', commandId, detail: result.output };
  return { finding: 'unknown', commandId, detail: `unexpected output: ${result.output}` };
}
