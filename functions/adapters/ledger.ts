import {
  GetItemCommand,
  PutItemCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { ClaimInput, ClaimResult, Ledger, VipWrite } from '../core/ports.ts';
import { VipRecordReader } from './ledger-vip-reader.ts';
import {
  requestKey,
  RequestRecordSchema,
  type RequestRecord,
  type VipRecord,
} from '../../lib/ledger-records.ts';

const isConditionFailure = (error: unknown): boolean =>
  (error as Error).name === 'ConditionalCheckFailedException';

/**
 * Which writes' conditions failed: one entry per write (a single write's failure is `[true]`),
 * or null when the error is not a condition failure.
 */
function conditionsFailed(error: unknown): boolean[] | null {
  if (isConditionFailure(error)) return [true];
  if ((error as Error).name !== 'TransactionCanceledException') return null;
  const reasons = (error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [];
  const failed = reasons.map((reason) => reason.Code === 'ConditionalCheckFailed');
  return failed.some(Boolean) ? failed : null;
}

/**
 * The claim of a request id as a conditional update. A request whose last attempt `failed` (same
 * digest; not this claim's own attempt) or whose claim lease ran out may be claimed again: that is
 * how a retry of the same request converges. The refusal of an unverified event under the same id does not occupy it: a
 * verified claim replaces it.
 */
function claimUpdate(tableName: string, input: ClaimInput) {
  const fields = {
    requestId: input.requestId,
    cluster: input.cluster,
    vip: input.vip,
    action: input.action,
    instanceId: input.instanceId,
    issuedAt: input.issuedAt,
    digest: input.digest,
    callerArn: input.callerArn,
    status: 'claimed',
    claimedAt: input.now.toISOString(),
    claimToken: input.claimToken,
    ttl: input.ttl,
  };
  const names = Object.fromEntries(Object.keys(fields).map((field) => [`#${field}`, field]));
  const values = Object.fromEntries(Object.entries(fields).map(([field, value]) => [`:${field}`, value]));
  return {
    TableName: tableName,
    Key: marshall({ pk: requestKey(input.requestId) }),
    UpdateExpression: `SET ${Object.keys(fields).map((field) => `#${field} = :${field}`).join(', ')} ADD #attempts :one REMOVE #reason, #failedStep, #recordedAt`,
    // A record without a caller is the refusal of an event whose proof was never verified:
    // whoever sent it does not own the id, so a verified request takes the record over.
    // A claim never lands over the outcome of its own attempt: one whose answer was lost, still in
    // flight when that attempt recorded its failure, must not reopen the request after the fact.
    ConditionExpression:
      'attribute_not_exists(pk) OR attribute_not_exists(#callerArn) OR attribute_type(#callerArn, :nullType) OR ' +
      '(#digest = :digest AND ((#status = :failed AND (attribute_not_exists(#claimToken) OR #claimToken <> :claimToken)) OR ' +
      '(#status = :claimed AND #claimedAt < :leaseExpired)))',
    ExpressionAttributeNames: {
      ...names,
      '#attempts': 'attempts',
      '#reason': 'reason',
      '#failedStep': 'failedStep',
      '#recordedAt': 'recordedAt',
    },
    ExpressionAttributeValues: marshall({
      ...values,
      ':one': 1,
      ':failed': 'failed',
      ':claimed': 'claimed',
      ':nullType': 'NULL',
      ':leaseExpired': new Date(input.now.getTime() - input.leaseMs).toISOString(),
    }),
  };
}

/** The VIP record's conditional put: nobody changed it since `expectedVersion` (null: it must not exist). */
function vipPut(tableName: string, write: VipWrite) {
  return {
    TableName: tableName,
    Item: marshall(write.next, { removeUndefinedValues: true }),
    ...(write.expectedVersion === null
      ? { ConditionExpression: 'attribute_not_exists(pk)' }
      : {
          ConditionExpression: '#version = :expected',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: marshall({ ':expected': write.expectedVersion }),
        }),
  };
}

/** The ledger port on one DynamoDB table: request claims and outcomes, and the VIP's holder. */
export class DynamoLedger implements Ledger {
  public constructor(
    private readonly dynamodb: DynamoDBClient,
    public readonly tableName: string,
  ) {}

  /**
   * Claims a request id with a conditional put, so each request is acted on once. A request whose
   * last attempt `failed` (same digest) or whose claim lease ran out may be claimed again: that is
   * how a retry of the same request converges. The refusal of an unverified event under the same
   * id does not occupy it: a verified claim replaces it.
   */
  public async claim(input: ClaimInput, vipWrite?: VipWrite): Promise<ClaimResult> {
    const claim = claimUpdate(this.tableName, input);
    try {
      if (vipWrite === undefined) {
        // One UpdateItem (not read-then-write): the claim sits on the switchover's critical path.
        const answer = await this.dynamodb.send(new UpdateItemCommand({ ...claim, ReturnValues: 'ALL_NEW' }));
        return { kind: 'claimed', attempts: answer.Attributes === undefined ? 1 : Number(unmarshall(answer.Attributes).attempts ?? 1) };
      }
      // The claim and the VIP record in one transaction: both or neither. The claim token makes
      // an SDK retry of a transaction whose answer was lost idempotent.
      await this.dynamodb.send(
        new TransactWriteItemsCommand({
          ClientRequestToken: input.claimToken.slice(0, 36),
          TransactItems: [{ Update: claim }, { Put: vipPut(this.tableName, vipWrite) }],
        }),
      );
      return { kind: 'claimed', attempts: (input.attemptsBefore ?? 0) + 1 };
    } catch (error) {
      const failed = conditionsFailed(error);
      if (failed === null) throw error;
      if (vipWrite !== undefined && !failed[0] && failed[1]) return { kind: 'vip-changed' };
      const record = await this.readRequest(input.requestId);
      if (record === null) {
        throw new Error(`request ${input.requestId} vanished from the ledger during its claim`, { cause: error });
      }
      if (record.status === 'claimed' && record.claimToken === input.claimToken) {
        return { kind: 'claimed', attempts: record.attempts ?? 1 };
      }
      return { kind: 'duplicate', record };
    }
  }

  /** Reads a request's record (strongly consistent). */
  public async readRequest(requestId: string): Promise<RequestRecord | null> {
    const answer = await this.dynamodb.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: marshall({ pk: requestKey(requestId) }),
        ConsistentRead: true,
      }),
    );
    return answer.Item === undefined ? null : RequestRecordSchema.parse(unmarshall(answer.Item));
  }

  /**
   * Stores the request's outcome over this attempt's own claim. A late write from an attempt that
   * was superseded (its lease ran out and a retry claimed the request) must not overwrite the newer
   * attempt's record: the write is conditional on the claim token, and false says it was skipped.
   */
  public async recordOutcome(record: RequestRecord): Promise<boolean> {
    if (record.claimToken === undefined) {
      throw new Error(`the outcome of request ${record.requestId} carries no claim token`);
    }
    try {
      await this.dynamodb.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall(record, { removeUndefinedValues: true }),
          ConditionExpression: '#claimToken = :claimToken',
          ExpressionAttributeNames: { '#claimToken': 'claimToken' },
          ExpressionAttributeValues: marshall({ ':claimToken': record.claimToken }),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Marks a claimed request routed, over this attempt's own claim only (one UpdateItem). */
  public async markRouted(requestId: string, claimToken: string): Promise<boolean> {
    try {
      await this.dynamodb.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall({ pk: requestKey(requestId) }),
          UpdateExpression: 'SET #routedClaim = :claimToken',
          ConditionExpression: '#claimToken = :claimToken AND #status = :claimed',
          ExpressionAttributeNames: { '#routedClaim': 'routedClaim', '#claimToken': 'claimToken', '#status': 'status' },
          ExpressionAttributeValues: marshall({ ':claimToken': claimToken, ':claimed': 'claimed' }),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /**
   * Stores the outcome of a request that was refused before it could be claimed, unless its id is
   * already in the ledger: an unverified sender must never overwrite a real request's record.
   */
  public async recordUnclaimedOutcome(record: RequestRecord): Promise<boolean> {
    try {
      await this.dynamodb.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall(record, { removeUndefinedValues: true }),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** The VIP's current holder record, or null before the first `up` (strongly consistent). */
  public async readVip(cluster: string): Promise<VipRecord | null> {
    return await new VipRecordReader(this.dynamodb, this.tableName).readVip(cluster);
  }

  /**
   * Writes the VIP record if nobody changed it since `expectedVersion` (null: it must not exist).
   * Returns false when another controller won the race; the caller re-reads and decides again.
   */
  public async writeVip(next: VipRecord, expectedVersion: number | null): Promise<boolean> {
    try {
      await this.dynamodb.send(new PutItemCommand(vipPut(this.tableName, { next, expectedVersion })));
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }
}
