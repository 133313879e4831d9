import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { OUTCOME_DETAIL_TYPES, OUTCOME_SOURCE, type OutcomeDetail } from '../../lib/contract.ts';
import type { OutcomeBus } from '../core/ports.ts';

/** The outcome-bus port on an EventBridge bus. */
export class EventBridgeOutcomeBus implements OutcomeBus {
  public constructor(
    private readonly eventbridge: EventBridgeClient,
    private readonly busName: string,
  ) {}

  public publish(detail: OutcomeDetail): Promise<void> {
    return publishOutcome(this.eventbridge, this.busName, detail);
  }
}

/** Puts the outcome of a request on the bus, so users can route it to SNS, chat or tickets. */
async function publishOutcome(eventbridge: EventBridgeClient, busName: string, detail: OutcomeDetail): Promise<void> {
  const answer = await eventbridge.send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: busName,
          Source: OUTCOME_SOURCE,
          DetailType: OUTCOME_DETAIL_TYPES[detail.outcome],
          Detail: JSON.stringify(detail),
        },
      ],
    }),
  );
  // PutEvents answers 200 even when the entry was refused; the refusal is per entry.
  const failed = answer.Entries?.find((entry) => entry.ErrorCode !== undefined);
  if ((answer.FailedEntryCount ?? 0) > 0 || failed !== undefined) {
    throw new Error(`PutEvents refused the outcome event: ${failed?.ErrorCode ?? 'unknown'} ${failed?.ErrorMessage ?? ''}`.trim());
  }
}
