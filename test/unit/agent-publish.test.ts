import { afterAll, describe, expect, it } from 'vitest';
import { AwsServiceError, type AwsJsonCaller } from '../../agent/aws-json.ts';
import { Deadline } from '../../agent/deadline.ts';
import { DeadlineReachedError, SwitchoverFailedError } from '../../agent/errors.ts';
import { publishRequest } from '../../agent/publish.ts';
import type { RequestDetail } from '../../lib/contract.ts';
import { SAMPLE_REQUEST } from '../kit/samples.ts';

// moto cannot refuse one PutEvents and accept the next, nor hang: these cases script the bus's answers.
const DETAIL: RequestDetail = {
  ...SAMPLE_REQUEST,
  proof: { headers: { authorization: 'AWS4-HMAC-SHA256 ...' }, body: 'Action=GetCallerIdentity&Version=2011-06-15' },
};

const refused = (code: string, message: string) => ({
  FailedEntryCount: 1,
  Entries: [{ ErrorCode: code, ErrorMessage: message }],
});
const accepted = { FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] };
const hangs = (): Promise<unknown> => new Promise(() => undefined);

function awsError(name: string, status: number): AwsServiceError {
  return new AwsServiceError(name, `${name} from the service`, status);
}

/** An EventBridge that answers each call with the next script step (the last one repeats). */
function scriptedBus(...steps: Array<() => Promise<unknown>>): AwsJsonCaller & { calls: Array<{ operation: string; input: object }> } {
  const calls: Array<{ operation: string; input: object }> = [];
  return {
    calls,
    call: (operation, input) => {
      calls.push({ operation, input });
      const step = steps[Math.min(calls.length, steps.length) - 1];
      if (step === undefined) throw new Error('empty script');
      return step();
    },
  };
}
const answers = (value: unknown) => () => Promise.resolve(value);
const throws = (error: Error) => () => Promise.reject(error);

const deadlines: Deadline[] = [];
function deadlineOf(ms: number): Deadline {
  const deadline = new Deadline(ms);
  deadlines.push(deadline);
  return deadline;
}
afterAll(() => {
  for (const deadline of deadlines.splice(0)) deadline.dispose();
});

// Each spec has its own scripted bus and deadline, and most wait on the agent's retry timers: they run side by side.
describe.concurrent('Function: publishRequest', () => {
  it('puts one entry on the configured bus with the contract source, detail-type and detail', async () => {
    // Prepare
    const bus = scriptedBus(answers(accepted));
    // Act
    const attempts = await publishRequest({ client: bus, bus: 'pgpool-vip', detail: DETAIL, deadline: deadlineOf(5000) });
    // Assess
    expect(attempts).toBe(1);
    expect(bus.calls[0]?.operation).toBe('PutEvents');
    expect(bus.calls[0]?.input).toEqual({
      Entries: [
        { EventBusName: 'pgpool-vip', Source: 'pgpool.vip.agent', DetailType: 'VIP Switchover Requested', Detail: JSON.stringify(DETAIL) },
      ],
    });
  });

  it('retries an entry refused with HTTP 200 and FailedEntryCount, resending the same detail', async () => {
    const bus = scriptedBus(answers(refused('ThrottlingException', 'Rate exceeded')), answers(refused('InternalFailure', 'try again')), answers(accepted));

    const attempts = await publishRequest({ client: bus, bus: 'pgpool-vip', detail: DETAIL, deadline: deadlineOf(10_000) });

    expect(attempts).toBe(3);
    const details = bus.calls.map((call) => (call.input as { Entries: Array<{ Detail: string }> }).Entries[0]?.Detail);
    expect(new Set(details)).toEqual(new Set([JSON.stringify(DETAIL)]));
  });

  it('gives up after three refusals that retrying cannot fix, naming the AWS error', async () => {
    const bus = scriptedBus(throws(awsError('AccessDeniedException', 400)));

    const publishing = publishRequest({ client: bus, bus: 'pgpool-vip', detail: DETAIL, deadline: deadlineOf(10_000) });

    await expect(publishing).rejects.toThrow(
      new SwitchoverFailedError('PutEvents to bus pgpool-vip failed after 3 attempts: AccessDeniedException: AccessDeniedException from the service'),
    );
    expect(bus.calls).toHaveLength(3);
  });

  it('gives up after three answers that are not a PutEvents result, without waiting for the deadline', async () => {
    const bus = scriptedBus(answers({ FailedEntryCount: 'none' }));

    const publishing = publishRequest({ client: bus, bus: 'pgpool-vip', detail: DETAIL, deadline: deadlineOf(10_000) });

    await expect(publishing).rejects.toThrow(
      new SwitchoverFailedError('PutEvents to bus pgpool-vip failed after 3 attempts: InvalidResponse: PutEvents answered something that is not a PutEvents result'),
    );
    expect(bus.calls).toHaveLength(3);
  });

  it('keeps retrying throttling until the deadline, then exits 1 naming the last refusal', async () => {
    const bus = scriptedBus(answers(refused('ThrottlingException', 'Rate exceeded')));

    const publishing = publishRequest({ client: bus, bus: 'pgpool-vip', detail: DETAIL, deadline: deadlineOf(1500) });

    await expect(publishing).rejects.toBeInstanceOf(SwitchoverFailedError);
    await expect(publishing).rejects.toThrow(/^PutEvents to bus pgpool-vip failed after \d+ attempts: ThrottlingException: Rate exceeded$/);
    expect(bus.calls.length).toBeGreaterThan(3);
  });

  it('times out (exit 3) when the very first call never answers', async () => {
    const publishing = publishRequest({ client: scriptedBus(hangs), bus: 'pgpool-vip', detail: DETAIL, deadline: deadlineOf(100) });

    await expect(publishing).rejects.toThrow(new DeadlineReachedError('timed out after 0.1 s waiting for PutEvents to bus pgpool-vip'));
  });

  it('reports the earlier refusal (exit 1) when a retry hangs until the deadline', async () => {
    const bus = scriptedBus(answers(refused('ThrottlingException', 'Rate exceeded')), hangs);

    const publishing = publishRequest({ client: bus, bus: 'pgpool-vip', detail: DETAIL, deadline: deadlineOf(500) });

    await expect(publishing).rejects.toThrow(
      new SwitchoverFailedError('PutEvents to bus pgpool-vip failed after 1 attempt: ThrottlingException: Rate exceeded'),
    );
  });
});
