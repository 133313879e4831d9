import { GetCommandInvocationCommand, SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';

/** Whether the VIP is on the holder's interface; `unknown` when the node did not answer in time. */
export type InterfaceFinding = 'present' | 'absent' | 'unknown';

export interface InterfaceCheckRequest {
  document: string;
  vip: string;
  iface: string;
  instanceId: string;
  timeoutMs: number;
}

/**
 * Asks the node, through the project's SSM document, whether the VIP is on its interface.
 * Needs a `check` action in the document (infra/vip-address.sh) that changes nothing and prints
 * `present` or `absent`; until the document has it the command fails and the finding is `unknown`.
 */
export async function checkVipOnInterface(
  ssm: SSMClient,
  request: InterfaceCheckRequest,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<{ finding: InterfaceFinding; commandId: string; detail: string }> {
  const sent = await ssm.send(
    new SendCommandCommand({
      DocumentName: request.document,
      InstanceIds: [request.instanceId],
      Parameters: { Action: ['check'], Vip: [request.vip], Interface: [request.iface] },
      TimeoutSeconds: 30,
      Comment: `pgpool-vip check ${request.vip}`,
    }),
  );
  const commandId = sent.Command?.CommandId;
  if (commandId === undefined) throw new Error('SSM SendCommand answered without a command id');
  const deadline = Date.now() + request.timeoutMs;
  let detail = 'no answer yet';
  for (;;) {
    try {
      const answer = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: request.instanceId }));
      const output = (answer.StandardOutputContent ?? '').trim();
      if (answer.Status === 'Success') {
        if (/^present\b/m.test(output)) return { finding: 'present', commandId, detail: output.slice(0, 200) };
        if (/^absent\b/m.test(output)) return { finding: 'absent', commandId, detail: output.slice(0, 200) };
        return { finding: 'unknown', commandId, detail: `unexpected output: ${output.slice(0, 200)}` };
      }
      detail = `${answer.Status ?? 'Pending'}: ${(answer.StandardErrorContent || answer.StatusDetails || '').trim().slice(0, 200)}`;
      if (!['Pending', 'InProgress', 'Delayed'].includes(answer.Status ?? 'Pending')) {
        return { finding: 'unknown', commandId, detail };
      }
    } catch (error) {
      // SSM registers the invocation a moment after SendCommand answers.
      if ((error as Error).name !== 'InvocationDoesNotExist') throw error;
    }
    if (Date.now() + 500 > deadline) return { finding: 'unknown', commandId, detail: `did not finish in time (${detail})` };
    await sleep(500);
  }
}
