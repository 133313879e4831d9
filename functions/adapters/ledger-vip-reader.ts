import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { vipKey, VipRecordSchema, type VipRecord } from '../../lib/ledger-records.ts';
import type { VipRecordSource } from '../core/ports.ts';

/**
 * Reads the VIP record and nothing else: what the reconciler needs. Kept apart from the Ledger so
 * the reconciler's bundle, and so its role, has no way to write the ledger.
 */
export class VipRecordReader implements VipRecordSource {
  public constructor(
    private readonly dynamodb: DynamoDBClient,
    public readonly tableName: string,
  ) {}

  /** The VIP's current holder record, or null before the first `up` (strongly consistent). */
  public async readVip(cluster: string): Promise<VipRecord | null> {
    const answer = await this.dynamodb.send(
      new GetItemCommand({ TableName: this.tableName, Key: marshall({ pk: vipKey(cluster) }), ConsistentRead: true }),
    );
    return answer.Item === undefined ? null : VipRecordSchema.parse(unmarshall(answer.Item));
  }
}
