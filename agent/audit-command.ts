import { parseArgs } from 'node:util';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ClusterNameSchema } from '../lib/contract.ts';
import { readHistory, historyLines } from './audit-history.ts';
import { findSavedQuery, HISTORY_QUERY_TEXT, insightsLines, runInsightsQuery } from './audit-insights.ts';
import { configPathFrom, loadAgentConfig, CONFIG_PATH_ENV, DEFAULT_CONFIG_PATH } from './config.ts';
import { Deadline } from './deadline.ts';
import { AgentError, EXIT, UsageError, describeAwsError, oneLine, type ExitCode } from './errors.ts';
import { readRegion } from './identity.ts';
import { InstanceMetadata, imdsEndpointFor } from './imds.ts';
import type { AgentIo } from './io.ts';

/** `pgpool-vip audit --help`, on stdout. */
export const AUDIT_HELP = `Usage:
  pgpool-vip audit [options]              the cluster's switchovers from the ledger, newest first
  pgpool-vip audit --insights [options]   the same history from the controller's audit log (Logs Insights)

Options:
  --since WHEN         only since WHEN: an ISO time (2026-11-25T10:00:00Z) or a duration back from now
                       (90s, 30m, 24h, 7d, 2w); default: all the ledger keeps, 7d with --insights
  --limit N            at most N entries (1-1000, default 20)
  --json               print a JSON array instead of text
  --cluster NAME       default: cluster of the agent config
  --ledger-table NAME  default: ledgerTable of the agent config
  --region REGION      default: region of the agent config, else AWS_REGION, else this instance's
                       region from IMDS (as up, down, status and doctor do)
  --config PATH        agent config (default: $${CONFIG_PATH_ENV}, else ${DEFAULT_CONFIG_PATH});
                       not read when --cluster and --ledger-table (or --insights) are given
  --insights           run the saved query pgpool-vip/<stage>/switchover-history instead
  --query NAME         with --insights: the saved query's full name (when several stages share a region)
  --log-group NAME     with --insights: run the same query text on this log group, no saved query needed
  --timeout SECONDS    give up after this long (default 30, 120 with --insights)

Runs with the operator's AWS credentials (the SDK's default chain: AWS_PROFILE, SSO, environment),
not the node's: attach the stack's AuditReadPolicyArn to the operators' role. It needs
dynamodb:Query on the ledger's byCluster index; with --insights logs:DescribeQueryDefinitions,
logs:StartQuery and logs:GetQueryResults. Exit codes: 0 done, 1 AWS error, 2 usage, 3 timed out.`;

/** Clients the command uses; tests point them at an emulator. */
export interface AuditClients {
  dynamodb?: DynamoDBClient;
  logs?: CloudWatchLogsClient;
  now?: () => Date;
}

/** What one `pgpool-vip audit` command line asks for. */
export interface AuditInvocation {
  help: boolean;
  json: boolean;
  insights: boolean;
  limit: number;
  since: Date | null;
  cluster?: string;
  ledgerTable?: string;
  region?: string;
  configPath?: string;
  query?: string;
  logGroup?: string;
  timeoutSeconds?: number;
}

const DURATION_UNITS_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const DEFAULT_INSIGHTS_SINCE_MS = 7 * DURATION_UNITS_MS.d;

/** `--since`: an ISO time, or a duration back from `now` such as `24h`. */
export function parseSince(text: string, now: Date): Date {
  const duration = /^(\d{1,6})([smhdw])$/.exec(text);
  if (duration !== null) {
    const unit = duration[2] as keyof typeof DURATION_UNITS_MS;
    return new Date(now.getTime() - Number(duration[1]) * DURATION_UNITS_MS[unit]);
  }
  const time = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(text) ? new Date(text) : null;
  if (time === null || Number.isNaN(time.getTime())) {
    throw new UsageError(`--since '${text}' is neither an ISO time (2026-11-25T10:00:00Z) nor a duration like 30m, 24h or 7d`);
  }
  if (time.getTime() > now.getTime()) throw new UsageError(`--since '${text}' is in the future`);
  return time;
}

/** The options of `pgpool-vip audit`. */
const AUDIT_OPTIONS = {
  since: { type: 'string' },
  limit: { type: 'string' },
  json: { type: 'boolean' },
  cluster: { type: 'string' },
  'ledger-table': { type: 'string' },
  region: { type: 'string' },
  config: { type: 'string' },
  insights: { type: 'boolean' },
  query: { type: 'string' },
  'log-group': { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses the arguments after `audit`; a UsageError explains the first mistake. */
export function parseAuditArguments(argv: readonly string[], now: Date): AuditInvocation {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], strict: true, allowPositionals: true, options: AUDIT_OPTIONS });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const option = /'(-{1,2}[^'\s,]*)/.exec(message)?.[1] ?? message.split('\n')[0];
    const code = (error as { code?: unknown }).code;
    throw new UsageError(
      code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' ? `audit: option '${option}' needs a value` : `audit: unknown option '${option}'; see pgpool-vip audit --help`,
    );
  }
  const { values, positionals } = parsed;
  if (positionals.length > 0) throw new UsageError(`audit: unexpected argument '${positionals.join(' ')}'; see pgpool-vip audit --help`);
  const insights = values.insights === true;
  if (!insights && (values.query !== undefined || values['log-group'] !== undefined)) {
    throw new UsageError(`audit: --${values.query !== undefined ? 'query' : 'log-group'} applies only with --insights`);
  }
  for (const [name, value] of Object.entries(values)) {
    if (value === '') throw new UsageError(`audit: --${name} needs a value`);
  }
  if (values.cluster !== undefined && !ClusterNameSchema.safeParse(values.cluster).success) {
    throw new UsageError(`audit: --cluster '${values.cluster}' is not a cluster name (letters, digits, _ . -)`);
  }
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError(`audit: --limit '${values.limit}' must be a whole number from 1 to 1000`);
  const timeout = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeout !== undefined && (!Number.isInteger(timeout) || timeout < 1 || timeout > 900)) {
    throw new UsageError(`audit: --timeout '${values.timeout}' must be whole seconds from 1 to 900`);
  }
  return {
    help: values.help === true,
    json: values.json === true,
    insights,
    limit,
    since: values.since === undefined ? null : parseSince(values.since, now),
    ...(values.cluster === undefined ? {} : { cluster: values.cluster }),
    ...(values['ledger-table'] === undefined ? {} : { ledgerTable: values['ledger-table'] }),
    ...(values.region === undefined ? {} : { region: values.region }),
    ...(values.config === undefined ? {} : { configPath: values.config }),
    ...(values.query === undefined ? {} : { query: values.query }),
    ...(values['log-group'] === undefined ? {} : { logGroup: values['log-group'] }),
    ...(timeout === undefined ? {} : { timeoutSeconds: timeout }),
  };
}

/** Cluster, ledger table and region: flags first, then the agent config (read only when needed). */
async function resolveTarget(invocation: AuditInvocation, env: NodeJS.ProcessEnv) {
  const needsConfig =
    invocation.configPath !== undefined || invocation.cluster === undefined || (!invocation.insights && invocation.ledgerTable === undefined);
  const configPath = configPathFrom(invocation.configPath, env);
  let config: Awaited<ReturnType<typeof loadAgentConfig>> | undefined;
  if (needsConfig) {
    try {
      config = await loadAgentConfig(configPath);
    } catch (error) {
      if (invocation.configPath !== undefined || !(error instanceof UsageError)) throw error;
      throw new UsageError(`${error.message}; or name the cluster with --cluster and the ledger with --ledger-table`, { cause: error });
    }
  }
  const cluster = invocation.cluster ?? config?.cluster;
  const ledgerTable = invocation.ledgerTable ?? config?.ledgerTable;
  if (cluster === undefined) throw new UsageError('audit: no cluster; pass --cluster');
  // The operator's AWS_REGION comes before IMDS: on a bastion it may name another region on purpose.
  const region = invocation.region ?? config?.region ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? (await regionFromImds(env));
  return { cluster, ledgerTable, region };
}

/** IMDS answers within milliseconds on an instance; off one, do not hang on it. */
const IMDS_REGION_TIMEOUT_MS = 3000;

/** The instance's region from IMDSv2, when nothing else names one; a UsageError says what to pass instead. */
async function regionFromImds(env: NodeJS.ProcessEnv): Promise<string> {
  const deadline = new Deadline(IMDS_REGION_TIMEOUT_MS);
  const imds = new InstanceMetadata(imdsEndpointFor(env), deadline);
  try {
    return await readRegion(imds);
  } catch (error) {
    throw new UsageError(
      `audit: no region: pass --region, set region in the agent config or AWS_REGION, or run it on an instance (IMDS at ${imds.endpoint}: ${describeAwsError(error)})`,
      { cause: error },
    );
  } finally {
    deadline.dispose();
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/**
 * `pgpool-vip audit`: who moved the VIP, when, from where to where, why and how long it took.
 * Read-only. Returns the exit code; errors are one `pgpool-vip:` line on stderr.
 */
export async function runAudit(argv: readonly string[], io: AgentIo, clients: AuditClients = {}): Promise<ExitCode> {
  const now = clients.now ?? (() => new Date());
  let deadline: Deadline | undefined;
  const owned: Array<{ destroy(): void }> = [];
  try {
    const invocation = parseAuditArguments(argv, now());
    if (invocation.help) {
      io.stdout(AUDIT_HELP);
      return EXIT.done;
    }
    const target = await resolveTarget(invocation, io.env);
    deadline = new Deadline((invocation.timeoutSeconds ?? (invocation.insights ? 120 : 30)) * 1000);
    const config = { region: target.region, maxAttempts: 3 };

    if (invocation.insights) {
      const logs = clients.logs ?? new CloudWatchLogsClient(config);
      if (clients.logs === undefined) owned.push(logs);
      const saved =
        invocation.logGroup !== undefined && invocation.query === undefined
          ? { name: '(built-in history query)', queryString: HISTORY_QUERY_TEXT, logGroupNames: [invocation.logGroup] }
          : await findSavedQuery(logs, invocation.query, deadline);
      const logGroupNames = invocation.logGroup !== undefined ? [invocation.logGroup] : saved.logGroupNames;
      if (logGroupNames.length === 0) throw new UsageError(`saved query ${saved.name} names no log group; pass --log-group NAME`);
      const until = now();
      const rows = await runInsightsQuery({
        client: logs,
        logGroupNames,
        queryString: saved.queryString,
        cluster: target.cluster,
        since: invocation.since ?? new Date(until.getTime() - DEFAULT_INSIGHTS_SINCE_MS),
        until,
        limit: invocation.limit,
        deadline,
      });
      if (invocation.json) io.stdout(JSON.stringify(rows, null, 2));
      else if (rows.length === 0) io.stdout(`no audit lines for cluster ${target.cluster} in ${logGroupNames.join(', ')}`);
      else for (const line of insightsLines(rows)) io.stdout(line);
      return EXIT.done;
    }

    if (target.ledgerTable === undefined) throw new UsageError('audit: no ledger table; pass --ledger-table');
    const dynamodb = clients.dynamodb ?? new DynamoDBClient(config);
    if (clients.dynamodb === undefined) owned.push(dynamodb);
    const history = await readHistory({
      client: dynamodb,
      table: target.ledgerTable,
      cluster: target.cluster,
      since: invocation.since?.toISOString() ?? null,
      limit: invocation.limit,
      deadline,
    });
    for (const problem of history.unreadable) io.stderr(`pgpool-vip: skipped a ledger item that does not fit the request schema: ${oneLine(problem)}`);
    if (invocation.json) io.stdout(JSON.stringify(history.records, null, 2));
    else if (history.records.length === 0) {
      io.stdout(`no switchovers recorded for cluster ${target.cluster}${invocation.since ? ` since ${invocation.since.toISOString()}` : ''} in ${target.ledgerTable}`);
    } else for (const line of historyLines(history.records)) io.stdout(line);
    return EXIT.done;
  } catch (error) {
    if (error instanceof AgentError) {
      io.stderr(`pgpool-vip: ${oneLine(error.message)}`);
      return error.exitCode;
    }
    io.stderr(`pgpool-vip: audit failed: ${describeAwsError(error)}`);
    return EXIT.failed;
  } finally {
    deadline?.dispose();
    for (const client of owned) client.destroy();
  }
}
