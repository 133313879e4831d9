import { z } from 'zod';
import { REQUEST_DETAIL_TYPE, REQUEST_SOURCE, type RequestDetail } from '../lib/contract.ts';
import type { Deadline } from './deadline.ts';
import type { AwsJsonCaller } from './aws-json.ts';
import { AgentError, SwitchoverFailedError, describeAwsError } from './errors.ts';

/** The fields of PutEvents' answer the agent acts on; EventBridge may add others. */
const PutEventsOutputSchema = z.object({
  FailedEntryCount: z.number().int().nonnegative().optional(),
  Entries: z
    .array(z.object({ EventId: z.string().optional(), ErrorCode: z.string().optional(), ErrorMessage: z.string().optional() }))
    .optional(),
});

/** Errors that say "later" rather than "no": retried until the deadline. */
const TRANSIENT_CODES = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'InternalException',
  'InternalFailure',
  'InternalError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);
/** A permission or a bus that was just created may take seconds to be seen everywhere. */
const PERMANENT_ERROR_ATTEMPTS = 3;
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 2000;

/** One failed PutEvents attempt, whether the call threw or the entry came back failed with HTTP 200. */
interface PutFailure {
  code: string;
  text: string;
  transient: boolean;
}

export interface PublishInput {
  /** EventBridge. */
  client: AwsJsonCaller;
  bus: string;
  detail: RequestDetail;
  deadline: Deadline;
  /** Called once the bus accepted the event (the benchmark's "sent" mark). */
  onSent?: (attempts: number) => void;
}

/**
 * Puts the request on the bus. PutEvents reports a refused entry with HTTP 200 and
 * FailedEntryCount, so both that and a thrown error count as a failed attempt. The same
 * detail (same request id, same proof) is resent: if an earlier attempt did land, the
 * controller sees a replay and the ledger already holds the first outcome.
 */
export async function publishRequest(input: PublishInput): Promise<number> {
  const { client, bus, detail, deadline } = input;
  const entry = {
    EventBusName: bus,
    Source: REQUEST_SOURCE,
    DetailType: REQUEST_DETAIL_TYPE,
    Detail: JSON.stringify(detail),
  };
  let lastFailure: PutFailure | undefined;
  let permanentFailures = 0;
  for (let attempt = 1; ; attempt += 1) {
    let failure: PutFailure | undefined;
    try {
      const answer = await deadline.race(`waiting for PutEvents to bus ${bus}`, (signal) =>
        client.call('PutEvents', { Entries: [entry] }, signal),
      );
      const output = PutEventsOutputSchema.safeParse(answer);
      const refused = output.success ? output.data.Entries?.[0] : undefined;
      if (!output.success) {
        failure = { code: 'InvalidResponse', text: 'InvalidResponse: PutEvents answered something that is not a PutEvents result', transient: false };
      } else if ((output.data.FailedEntryCount ?? 0) === 0 && refused?.EventId !== undefined) {
        input.onSent?.(attempt);
        return attempt;
      } else {
        const code = refused?.ErrorCode ?? 'UnknownError';
        failure = { code, text: `${code}: ${refused?.ErrorMessage ?? 'entry not accepted'}`, transient: TRANSIENT_CODES.has(code) };
      }
    } catch (error) {
      if (error instanceof AgentError) {
        if (lastFailure !== undefined) throw failedAfter(bus, attempt - 1, lastFailure, error);
        throw error;
      }
      failure = thrownFailure(error);
    }
    lastFailure = failure;
    if (!failure.transient) permanentFailures += 1;
    if (permanentFailures >= PERMANENT_ERROR_ATTEMPTS) throw failedAfter(bus, attempt, failure);
    const backoff = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (attempt - 1));
    const jittered = backoff / 2 + Math.random() * (backoff / 2);
    if (deadline.remainingMs() <= jittered || !(await deadline.sleep(jittered))) throw failedAfter(bus, attempt, failure);
  }
}

function thrownFailure(error: unknown): PutFailure {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const name = error instanceof Error ? error.name : 'Error';
  // No HTTP status means the call never got an answer (refused, reset, timed out): worth another try.
  const transient = TRANSIENT_CODES.has(name) || status === undefined || status >= 500 || status === 429;
  return { code: name, text: describeAwsError(error), transient };
}

function failedAfter(bus: string, attempts: number, failure: PutFailure, cause?: unknown): SwitchoverFailedError {
  const times = attempts === 1 ? '1 attempt' : `${attempts} attempts`;
  return new SwitchoverFailedError(`PutEvents to bus ${bus} failed after ${times}: ${failure.text}`, { cause });
}
