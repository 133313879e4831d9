import { GetCommandInvocationCommand, SendCommandCommand, SSMClient, type CommandInvocationStatus } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { checkVipOnInterface } from '../../functions/adapters/ssm-interface-probe.ts';

const request = { document: 'pgpool-vip-address', vip: '198.19.0.50', iface: 'eth0', instanceId: 'i-0000000000000000a', timeoutMs: 1000 };

function ssmAnswering(status: CommandInvocationStatus, stdout: string) {
  const ssm = new SSMClient({ region: 'us-east-1' });
  const mock = mockClient(ssm);
  mock.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
  mock.on(GetCommandInvocationCommand).resolves({ Status: status, StandardOutputContent: stdout });
  return { ssm, mock };
}

describe('Function: checkVipOnInterface', () => {
  it("sends the document's read-only check action to the holder", async () => {
    const { ssm, mock } = ssmAnswering('Success', 'present 198.19.0.50/32 on eth0\n');

    const result = await checkVipOnInterface(ssm, request, () => Promise.resolve());

    expect(result).toEqual({ finding: 'present', commandId: 'cmd-1', detail: 'present 198.19.0.50/32 on eth0' });
    expect(mock.commandCalls(SendCommandCommand)[0]?.args[0].input).toMatchObject({
      DocumentName: 'pgpool-vip-address',
      InstanceIds: ['i-0000000000000000a'],
      Parameters: { Action: ['check'], Vip: ['198.19.0.50'], Interface: ['eth0'] },
    });
  });

  it('reads absent', async () => {
    const { ssm } = ssmAnswering('Success', 'absent 198.19.0.50/32 from eth0');

    expect((await checkVipOnInterface(ssm, request, () => Promise.resolve())).finding).toBe('absent');
  });

  it('is unknown when the script says something else, fails, or does not finish in time', async () => {
    for (const [status, stdout] of [['Success', ''], ['Failed', ''], ['InProgress', '']] as const) {
      const { ssm } = ssmAnswering(status, stdout);

      expect((await checkVipOnInterface(ssm, { ...request, timeoutMs: 600 }, () => Promise.resolve())).finding, status).toBe('unknown');
    }
  });
});
