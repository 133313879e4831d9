import {
  DescribeQueryDefinitionsCommand,
  GetQueryResultsCommand,
  StartQueryCommand,
  type CloudWatchLogsClient,
} from '@aws-sdk/client-cloudwatch-logs';
import type { Deadline } from './deadline.ts';
import { AgentError, EXIT, UsageError } from './errors.ts';

/** Name suffix of the saved switchover-history query (infra/queries.yml: pgpool-vip/<stage>/switchover-history). */
export const HISTORY_QUERY_SUFFIX = '/switchover-history';
export const SAVED_QUERY_PREFIX = 'pgpool-vip/';

/** The saved query's text, for a log group given by hand (same as infra/queries.yml). */
export const HISTORY_QUERY_TEXT = `fields @timestamp, cluster, vip, action, instanceId, callerArn, outcome, reason, holderBefore, holderAfter, totalMs, requestId
| filter message = "switchover audit"
| sort @timestamp desc
| limit 1000`;

/** CloudWatch Logs could not run the query, or refused it. */
export class InsightsQueryError extends AgentError {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, EXIT.failed, options);
    this.name = 'InsightsQueryError';
  }
}

export interface SavedQuery {
  name: string;
  queryString: string;
  logGroupNames: string[];
}

/**
 * Finds the saved query: by exact name when given, else the one `pgpool-vip/<stage>/switchover-history`
 * there is; several stages in one account need `--query` to choose.
 */
export async function findSavedQuery(client: CloudWatchLogsClient, name: string | undefined, deadline: Deadline): Promise<SavedQuery> {
  const found: SavedQuery[] = [];
  let nextToken: string | undefined;
  do {
    const page = await deadline.race('listing saved Logs Insights queries', (signal) =>
      client.send(
        new DescribeQueryDefinitionsCommand({ queryDefinitionNamePrefix: name ?? SAVED_QUERY_PREFIX, nextToken, maxResults: 1000 }),
        { abortSignal: signal },
      ),
    );
    for (const definition of page.queryDefinitions ?? []) {
      const candidate = definition.name ?? '';
      if (name === undefined ? !candidate.endsWith(HISTORY_QUERY_SUFFIX) : candidate !== name) continue;
      found.push({ name: candidate, queryString: definition.queryString ?? '', logGroupNames: definition.logGroupNames ?? [] });
    }
    nextToken = page.nextToken;
  } while (nextToken);
  if (found.length === 1 && found[0] !== undefined) return found[0];
  if (found.length === 0) {
    throw new UsageError(
      name === undefined
        ? `no saved query named ${SAVED_QUERY_PREFIX}<stage>${HISTORY_QUERY_SUFFIX} in this region; pass --query NAME or --log-group NAME`
        : `no saved query named ${name}`,
    );
  }
  throw new UsageError(`several saved history queries (${found.map((query) => query.name).join(', ')}); choose one with --query NAME`);
}

export interface InsightsRun {
  client: CloudWatchLogsClient;
  logGroupNames: string[];
  queryString: string;
  cluster: string;
  since: Date;
  until: Date;
  limit: number;
  deadline: Deadline;
  pollMs?: number;
}

/** The query limited to one cluster: a leading filter keeps the saved text as it is. */
export function clusterQuery(queryString: string, cluster: string): string {
  return `filter cluster = "${cluster}"\n| ${queryString.trim()}`;
}

/** Runs the query and waits (until the deadline) for its rows; each row is field -> value, `@ptr` left out. */
export async function runInsightsQuery(run: InsightsRun): Promise<Array<Record<string, string>>> {
  const started = await run.deadline.race('starting the Logs Insights query', (signal) =>
    run.client.send(
      new StartQueryCommand({
        logGroupNames: run.logGroupNames,
        queryString: clusterQuery(run.queryString, run.cluster),
        startTime: Math.floor(run.since.getTime() / 1000),
        endTime: Math.ceil(run.until.getTime() / 1000),
        limit: run.limit,
      }),
      { abortSignal: signal },
    ),
  );
  const queryId = started.queryId;
  if (queryId === undefined) throw new InsightsQueryError('StartQuery answered without a query id');
  for (;;) {
    const answer = await run.deadline.race(`waiting for Logs Insights query ${queryId}`, (signal) =>
      run.client.send(new GetQueryResultsCommand({ queryId }), { abortSignal: signal }),
    );
    const status = answer.status ?? 'Unknown';
    if (status === 'Complete') {
      return (answer.results ?? []).map((row) =>
        Object.fromEntries(row.filter((cell) => cell.field !== undefined && cell.field !== '@ptr').map((cell) => [cell.field ?? '', cell.value ?? ''])),
      );
    }
    if (!['Scheduled', 'Running'].includes(status)) throw new InsightsQueryError(`Logs Insights query ${queryId} ended ${status}`);
    if (!(await run.deadline.sleep(run.pollMs ?? 1000))) throw run.deadline.reached(`waiting for Logs Insights query ${queryId} (last status ${status})`);
  }
}

/** One line per row: `field=value` pairs in the query's field order. */
export function insightsLines(rows: ReadonlyArray<Record<string, string>>): string[] {
  return rows.map((row) => Object.entries(row).map(([field, value]) => `${field}=${value.replace(/\s*[\r\n]+\s*/g, ' ')}`).join('  '));
}
