import { z } from 'zod';
import { describeIssues } from '../../lib/cluster-config.ts';
import { InstanceIdSchema } from '../../lib/contract.ts';
import { PgpoolVipError } from '../../lib/errors.ts';

/**
 * The schedule's event, e.g.
 * {"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event","source":"aws.events",
 *  "account":"123456789012","time":"2026-11-25T10:00:00Z","region":"us-east-1",
 *  "resources":["arn:aws:events:us-east-1:123456789012:rule/pgpool-vip-dev-reconcile"],"detail":{}}
 */
export const ScheduledEventSchema = z.object({
  id: z.string().min(1),
  source: z.literal('aws.events'),
  'detail-type': z.literal('Scheduled Event'),
  time: z.string().optional(),
});

/**
 * EC2's state-change event, e.g.
 * {"version":"0","id":"7bf73129-1428-4cd3-a780-95db273d1602","detail-type":"EC2 Instance State-change Notification",
 *  "source":"aws.ec2","account":"123456789012","time":"2026-11-25T10:00:00Z","region":"us-east-1",
 *  "resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-0a632a8349b701357"],
 *  "detail":{"instance-id":"i-0a632a8349b701357","state":"stopping"}}
 */
export const InstanceStateChangeEventSchema = z.object({
  id: z.string().min(1),
  source: z.literal('aws.ec2'),
  'detail-type': z.literal('EC2 Instance State-change Notification'),
  time: z.string().optional(),
  detail: z.object({ 'instance-id': InstanceIdSchema, state: z.string().min(1).max(32) }),
});

/** Why the reconciler runs this time. */
export type ReconcileTrigger =
  | { kind: 'schedule'; eventId: string }
  | { kind: 'instance-state'; eventId: string; instanceId: string; state: string };

/** The reconciler received something that is neither of its two events: nothing is checked. */
export class UnexpectedReconcileEventError extends PgpoolVipError {
  public constructor(message: string) {
    super(message);
    this.name = 'UnexpectedReconcileEventError';
  }
}

/** Tells the schedule from an instance state change; anything else is refused with the reason. */
export function parseTrigger(event: unknown): ReconcileTrigger {
  const source = (event as { source?: unknown } | null)?.source;
  if (source === 'aws.ec2') {
    const parsed = InstanceStateChangeEventSchema.safeParse(event);
    if (!parsed.success) {
      throw new UnexpectedReconcileEventError(`malformed EC2 state-change event: ${describeIssues(parsed.error)}`);
    }
    return {
      kind: 'instance-state',
      eventId: parsed.data.id,
      instanceId: parsed.data.detail['instance-id'],
      state: parsed.data.detail.state,
    };
  }
  const parsed = ScheduledEventSchema.safeParse(event);
  if (!parsed.success) {
    throw new UnexpectedReconcileEventError(
      `not a Scheduled Event nor an EC2 Instance State-change Notification: ${describeIssues(parsed.error)}`,
    );
  }
  return { kind: 'schedule', eventId: parsed.data.id };
}
