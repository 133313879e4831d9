import { EventBridgeClient, EventBridgeServiceException, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { Deadline } from '../../agent/deadline.ts';
import { DeadlineReachedError, SwitchoverFailedError } from '../../agent/errors.ts';
import { publishRequest } from '../../agent/publish.ts';
import type { RequestDetail } from '../../lib/contract.ts';

// moto cannot refuse one PutEvents and accept the next, nor hang: these cases use a client mock.
const DETAIL: RequestDetail = {
  version: 1,
  action: 'up',
  cluster: 'main',
  vip: '198.19.0.50',
  instanceId: 'i-0a632a8349b701357',
  interface: 'eth0',
  eni: 'eni-0f1e2d3c4b5a69788',
  requestId: '5b0c7a8e-1d2f-4e3a-9b4c-5d6e7f8a9b0c',
  issuedAt: '2026-11-25T10:00:00.000Z',
  proof: { headers: { authorization: 'AWS4-HMAC-SHA256 ...' }, body: 'Action=GetCallerIdentity&Version=2011-06-15' },
};

const refused = (code: string, message: string) => ({
  FailedEntryCount: 1,
  Entries: [{ ErrorCode: code, ErrorMessage: message }],
});
const accepted = { FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] };

function awsError(name: string, status: number): EventBridgeServiceException {
  return new EventBridgeServiceException({ name, message: `${name} from the service`, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status } });
}

const mock = mockClient(EventBridgeClient);
const deadlines: Deadline[] = [];
function deadlineOf(ms: number): Deadline {
  const deadline = new Deadline(ms);
  deadlines.push(deadline);
  return deadline;
}
afterEach(() => {
  mock.reset();
  for (const deadline of deadlines.splice(0)) deadline.dispose();
});

describe('Function: publishRequest', () => {
  it('puts one entry on the configured bus with the contract source, detail-type and detail', async () => {
    // Prepare
    mock.on(PutEventsCommand).resolves(accepted);
    // Act
    const attempts = await publishRequest({ client: new EventBridgeClient({}), bus: 'pgpool-vip', detail: DETAIL, deadline: deadlineOf(5000) });
    // Assess
    expect(attempts).toBe(1);
    expect(mock.commandCalls(PutEventsCommand)[0]?.args[0].input).toEqual({
      Entries: [
        { EventBusName: 'pgpool-vip', Source: 'pgpool.vip.agent', DetailType: 'VIP Switchover Requested', Detail: JSON.stringify(DETAIL) },
      ],
    });
  });

  it('retries an entry refused with HTTP 200 and FailedEntryCount, resending the same detail', async () => {
    mock
      .on(PutEventsCommand)
      .resolvesOnce(refused('ThrottlingException', 'Rate exceeded'))
      .resolvesOnce(refused('InternalFailure', 'try again'))
      .resolves(accepted);

    const attempts = await publishRequest({ client: new EventBridgeClient({}), bus: 'pgpool-vip', detail: DETAIL, deadline: deadlineOf(10_000) });

    expect(attempts).toBe(3);
    const details = mock.commandCalls(PutEventsCommand).map((call) => call.args[0].input.Entries?.[0]?.Detail);
    expect(new Set(details)).toEqual(new Set([JSON.stringify(DETAIL)]));
  });

  it('gives up after three refusals that retrying cannot fix, naming the AWS error', async () => {
    mock.on(PutEventsCommand).rejects(awsError('AccessDeniedException', 400));

    const publishing = publishRequest({ client: new EventBridgeClient({}), bus: 'pgpool-vip', detail: DETAIL, deadline: deadlineOf(10_000) });

    await expect(publishing).rejects.toThrow(
      new SwitchoverFailedError('PutEvents to bus pgpool-vip failed after 3 attempts: AccessDeniedException: AccessDeniedException from the service'),
    );
    expect(mock.commandCalls(PutEventsCommand)).toHaveLength(3);
  });

  it('keeps retrying throttling until the deadline, then exits 1 naming the last refusal', async () => {
    mock.on(PutEventsCommand).resolves(refused('ThrottlingException', 'Rate exceeded'));

    const publishing = publishRequest({ client: new EventBridgeClient({}), bus: 'pgpool-vip', detail: DETAIL, deadline: deadlineOf(1500) });

    await expect(publishing).rejects.toBeInstanceOf(SwitchoverFailedError);
    await expect(publishing).rejects.toThrow(/^PutEvents to bus pgpool-vip failed after \d+ attempts: ThrottlingException: Rate exceeded$/);
    expect(mock.commandCalls(PutEventsCommand).length).toBeGreaterThan(3);
  });

  it('times out (exit 3) when the very first call never answers', async () => {
    mock.on(PutEventsCommand).callsFake(() => new Promise(() => undefined));

    const publishing = publishRequest({ client: new EventBridgeClient({}), bus: 'pgpool-vip', detail: DETAIL, deadline: deadlineOf(100) });

    await expect(publishing).rejects.toThrow(new DeadlineReachedError('timed out after 0.1 s waiting for PutEvents to bus pgpool-vip'));
  });

  it('reports the earlier refusal (exit 1) when a retry hangs until the deadline', async () => {
    mock
      .on(PutEventsCommand)
      .resolvesOnce(refused('ThrottlingException', 'Rate exceeded'))
      .callsFake(() => new Promise(() => undefined));

    const publishing = publishRequest({ client: new EventBridgeClient({}), bus: 'pgpool-vip', detail: DETAIL, deadline: deadlineOf(500) });

    await expect(publishing).rejects.toThrow(
      new SwitchoverFailedError('PutEvents to bus pgpool-vip failed after 1 attempt: ThrottlingException: Rate exceeded'),
    );
  });
});
