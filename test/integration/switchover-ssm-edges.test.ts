import { GetCommandInvocationCommand, SendCommandCommand, SSMClient, type CommandInvocationStatus } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedMoto } from '../kit/moto.ts';
import type { WorldInstance } from '../../local/world.ts';
import { createHarness } from '../../local/harness/controller-harness.ts';
import { envelope, signedDetail } from '../../local/requests.ts';

// moto's SSM reports Success at once and runs nothing; a command that fails on the node or never
// finishes can only be produced with a mocked SSM client. Everything else is moto.
let moto: ReturnType<typeof sharedMoto>;
beforeAll(() => {
  moto = sharedMoto();
});
afterAll(async () => {
  await moto?.stop();
});

function ssmAnswering(status: CommandInvocationStatus, stderr = ''): SSMClient {
  const ssm = new SSMClient({ region: 'us-east-1' });
  mockClient(ssm)
    .on(SendCommandCommand)
    .resolves({ Command: { CommandId: 'cmd-0001' } })
    .on(GetCommandInvocationCommand)
    .resolves({ Status: status, StandardErrorContent: stderr });
  return ssm;
}

describe('Function: switchover handler when SSM misbehaves', () => {
  it('fails the up at step ssm-add with the node script error, after the route was moved', async () => {
    const harness = await createHarness(moto.endpoint, {
      deps: { ssm: ssmAnswering('Failed', "pgpool-vip-address: no interface 'eth0' on this host") },
    });
    const node1 = harness.world.instances[0] as WorldInstance;
    const detail = await signedDetail(harness.world, node1, { action: 'up', stsEndpoint: moto.endpoint });

    const result = await harness.invoke(envelope(detail, harness.world));

    expect(result.outcome).toBe('failed');
    expect(result.failedStep).toBe('ssm-add');
    expect(result.reason).toBe(
      `SSM command cmd-0001 (add) on ${node1.instanceId} ended Failed: pgpool-vip-address: no interface 'eth0' on this host`,
    );
    expect(Object.values(await harness.routeTargets())).toEqual([node1.eni]);
    expect(await harness.request(detail.requestId)).toMatchObject({ status: 'failed', failedStep: 'ssm-add' });
  });

  it('fails with a bounded wait when the command never finishes', async () => {
    const harness = await createHarness(moto.endpoint, {
      deps: { ssm: ssmAnswering('InProgress') },
      configure: () => ({ ssmWaitSeconds: 1 }),
    });
    const node1 = harness.world.instances[0] as WorldInstance;
    const detail = await signedDetail(harness.world, node1, { action: 'down', stsEndpoint: moto.endpoint });

    const result = await harness.invoke(envelope(detail, harness.world));

    expect(result.outcome).toBe('failed');
    expect(result.failedStep).toBe('ssm-remove');
    expect(result.reason).toBe(`SSM command cmd-0001 (remove) on ${node1.instanceId} did not finish within 1 s (last status InProgress)`);
  });

  it('fails naming the SSM error when the command cannot be sent', async () => {
    const ssm = new SSMClient({ region: 'us-east-1' });
    mockClient(ssm)
      .on(SendCommandCommand)
      .rejects(Object.assign(new Error('Instances [[i-1]] not in a valid state for account'), { name: 'InvalidInstanceId' }));
    const harness = await createHarness(moto.endpoint, { deps: { ssm } });
    const node1 = harness.world.instances[0] as WorldInstance;
    const detail = await signedDetail(harness.world, node1, { action: 'up', stsEndpoint: moto.endpoint });

    const result = await harness.invoke(envelope(detail, harness.world));

    expect(result.outcome).toBe('failed');
    expect(result.reason).toBe(
      `SSM SendCommand (add) to ${node1.instanceId} failed: InvalidInstanceId: Instances [[i-1]] not in a valid state for account`,
    );
  });
});
