import { QueryCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { fieldName } from '../lib/errors.ts';
import { LEDGER_HISTORY_INDEX, RequestRecordSchema, type RequestRecord } from '../lib/ledger-records.ts';
import type { Deadline } from './deadline.ts';

export interface HistoryQuery {
  client: DynamoDBClient;
  table: string;
  cluster: string;
  /** ISO time; only outcomes recorded at or after it. */
  since: string | null;
  limit: number;
  deadline: Deadline;
}

/** What the ledger answered: the records, newest first, and items that did not fit the schema. */
export interface History {
  records: RequestRecord[];
  unreadable: string[];
}

/**
 * A cluster's recorded outcomes, newest first, from the ledger's `byCluster` index (cluster +
 * recordedAt). Claims still in progress have no recordedAt and are not in the index.
 */
export async function readHistory(query: HistoryQuery): Promise<History> {
  const records: RequestRecord[] = [];
  const unreadable: string[] = [];
  let startKey: Record<string, never> | undefined;
  do {
    const page = await query.deadline.race(`querying ${LEDGER_HISTORY_INDEX} of ledger ${query.table}`, (signal) =>
      query.client.send(
        new QueryCommand({
          TableName: query.table,
          IndexName: LEDGER_HISTORY_INDEX,
          KeyConditionExpression: query.since === null ? '#cluster = :cluster' : '#cluster = :cluster AND #recordedAt >= :since',
          ExpressionAttributeNames: { '#cluster': 'cluster', ...(query.since === null ? {} : { '#recordedAt': 'recordedAt' }) },
          ExpressionAttributeValues: { ':cluster': { S: query.cluster }, ...(query.since === null ? {} : { ':since': { S: query.since } }) },
          ScanIndexForward: false,
          Limit: query.limit - records.length,
          ExclusiveStartKey: startKey,
        }),
        { abortSignal: signal },
      ),
    );
    for (const item of page.Items ?? []) {
      const parsed = RequestRecordSchema.safeParse(unmarshall(item));
      if (parsed.success) {
        records.push(parsed.data);
      } else {
        const issue = parsed.error.issues[0];
        const pk = item.pk?.S ?? '(no pk)';
        unreadable.push(`${pk}: ${issue === undefined ? 'invalid' : `${fieldName(issue.path)} ${issue.message}`}`);
      }
    }
    startKey = page.LastEvaluatedKey as Record<string, never> | undefined;
  } while (startKey !== undefined && records.length < query.limit);
  return { records: records.slice(0, query.limit), unreadable };
}

/** Column titles of the text listing. */
export const HISTORY_HEADER = 'RECORDED AT               OUTCOME   ACTION  INSTANCE              HOLDER BEFORE -> AFTER                         MS      REQUEST';

/**
 * One line per outcome (plus an indented reason when there is one), newest first. A dry run
 * (nothing changed) and an operator's break-glass are marked after the request id.
 */
export function historyLines(records: readonly RequestRecord[]): string[] {
  const lines = [HISTORY_HEADER];
  for (const record of records) {
    const holders = `${record.holderBefore ?? '-'} -> ${record.holderAfter ?? '-'}`;
    lines.push(
      [
        (record.recordedAt ?? '-').padEnd(25),
        record.status.padEnd(9),
        (record.action ?? '-').padEnd(7),
        (record.instanceId ?? '-').padEnd(21),
        holders.padEnd(46),
        String(record.durationMs ?? '-').padEnd(7),
        record.requestId + (record.dryRun === true ? ' (dry run)' : record.breakGlass === true ? ' (break-glass)' : ''),
      ].join(' '),
    );
    if (record.reason) lines.push(`    ${record.failedStep ? `${record.failedStep}: ` : ''}${record.reason.replace(/\s*[\r\n]+\s*/g, ' ')}`);
  }
  return lines;
}
