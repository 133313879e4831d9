import { GetCommandInvocationCommand, SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { AddressCommand, InvocationResult, NodeAddress } from '../core/ports.ts';

/** The node-address port on SSM Run Command and the project's document. */
export class SsmNodeAddress implements NodeAddress {
  public constructor(
    private readonly ssm: SSMClient,
    private readonly sleep?: (ms: number) => Promise<void>,
  ) {}

  public send(command: AddressCommand): Promise<string> {
    return sendAddressCommand(this.ssm, command);
  }

  public wait(invocation: { commandId: string; instanceId: string; timeoutMs: number; pollMs?: number }): Promise<InvocationResult> {
    return waitForInvocation(this.ssm, invocation, this.sleep);
  }
}

/** Sends the project's document to put the VIP on (or take it off) an interface. Returns the command id. */
export async function sendAddressCommand(
  ssm: SSMClient,
  command: AddressCommand,
): Promise<string> {
  const sent = await ssm.send(
    new SendCommandCommand({
      DocumentName: command.document,
      InstanceIds: command.instanceIds,
      Parameters: { Action: [command.action], Vip: [command.vip], Interface: [command.iface] },
      TimeoutSeconds: 30,
      Comment: (command.comment ?? `pgpool-vip ${command.action} ${command.vip}`).slice(0, 100),
    }),
  );
  const commandId = sent.Command?.CommandId;
  if (commandId === undefined) throw new Error('SSM SendCommand answered without a command id');
  return commandId;
}

const FINAL_FAILURES = new Set(['Cancelled', 'Failed', 'TimedOut', 'Cancelling', 'Undeliverable', 'Terminated', 'InvalidPlatform', 'AccessDenied', 'DeliveryTimedOut', 'ExecutionTimedOut']);

/**
 * Polls one instance's invocation until it finishes or the wait ends. An invocation that SSM does
 * not know yet (it registers a moment after SendCommand) is polled again, not reported as failed.
 */
export async function waitForInvocation(
  ssm: SSMClient,
  invocation: { commandId: string; instanceId: string; timeoutMs: number; pollMs?: number },
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<InvocationResult> {
  const deadline = Date.now() + invocation.timeoutMs;
  let last: InvocationResult = { status: 'Pending', finished: false, succeeded: false, detail: 'not started', output: '' };
  for (;;) {
    try {
      const answer = await ssm.send(
        new GetCommandInvocationCommand({ CommandId: invocation.commandId, InstanceId: invocation.instanceId }),
      );
      const status = answer.Status ?? 'Pending';
      const detail = (answer.StandardErrorContent || answer.StatusDetails || status).trim().slice(0, 300);
      const output = (answer.StandardOutputContent ?? '').trim().slice(0, 300);
      if (status === 'Success') return { status, finished: true, succeeded: true, detail, output };
      if (FINAL_FAILURES.has(status)) return { status, finished: true, succeeded: false, detail, output };
      last = { status, finished: false, succeeded: false, detail, output };
    } catch (error) {
      if ((error as Error).name !== 'InvocationDoesNotExist') throw error;
    }
    if (Date.now() + (invocation.pollMs ?? 250) > deadline) return last;
    await sleep(invocation.pollMs ?? 250);
  }
}
