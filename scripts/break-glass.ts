import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { Ec2Members } from '../functions/adapters/ec2-instances.ts';
import { Ec2RouteTables } from '../functions/adapters/ec2-routes.ts';
import { DynamoLedger } from '../functions/adapters/ledger.ts';
import { SsmNodeAddress } from '../functions/adapters/ssm-address.ts';
import { BreakGlassRefusedError, breakGlass, type BreakGlassResult } from '../functions/break-glass/break-glass-flow.ts';
import { ClusterNameSchema, EniIdSchema, InstanceIdSchema, RegionSchema } from '../lib/contract.ts';
import { parseControllerConfig } from '../lib/cluster-config.ts';
import { describeError } from '../lib/errors.ts';

/**
 * `npm run break-glass -- --stage prod --cluster main --to i-... --reason "..."`: the operator's
 * command for when the controller cannot move the VIP (docs/operations.md). It runs from the
 * deployment checkout with the operator's AWS credentials (the SDK's default chain), reads the
 * same config/<stage>.json the controller was deployed with, and uses the controller's own
 * adapters. Exit 0 applied, 1 refused or failed, 2 usage.
 */

const USAGE = `Usage: npm run break-glass -- --stage STAGE --cluster NAME --to INSTANCE_ID --reason TEXT [options]

Moves the VIP of cluster NAME to INSTANCE_ID (the node pgpool elected) when the controller cannot:
writes the ledger's VIP record (holder = INSTANCE_ID, conditional on its version) with a request
record marked break-glass, points VIP/32 at the instance's ENI in every configured route table,
then adds the VIP on the instance and removes it from the other members through SSM.

Options:
  --stage STAGE          the deployed stage (reads config/STAGE.json, ledger and SSM document names)
  --cluster NAME         the cluster in that configuration
  --to INSTANCE_ID       the instance pgpool elected
  --reason TEXT          why, for the audit (e.g. the incident id)
  --eni ENI              route to this ENI of the instance (default: its primary ENI, device 0)
  --no-ssm               do not send the SSM commands (SSM is down too): print what to run instead
  --region REGION        default: AWS_REGION
  --config FILE          default: config/STAGE.json
  --ledger-table NAME    default: pgpool-vip-ledger for prod, pgpool-vip-ledger-STAGE otherwise
  --json                 one JSON document on stdout
  --help

Needs the operator's credentials: dynamodb:GetItem, UpdateItem, PutItem on the ledger;
ec2:DescribeRouteTables, DescribeInstances, ReplaceRoute, CreateRoute (and
ModifyNetworkInterfaceAttribute when the source/dest check is still on); ssm:SendCommand and
GetCommandInvocation with the cluster's document; sts:GetCallerIdentity (no permission needed).`;

class UsageError extends Error {}

/** The names serverless.yml gives a stage's resources (params ledgerTableName, ssmDocumentName). */
function stageNames(stage: string): { ledgerTable: string; ssmDocument: string } {
  return stage === 'prod'
    ? { ledgerTable: 'pgpool-vip-ledger', ssmDocument: 'pgpool-vip-address' }
    : { ledgerTable: `pgpool-vip-ledger-${stage}`, ssmDocument: `pgpool-vip-address-${stage}` };
}

function parse(argv: string[], env: NodeJS.ProcessEnv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        stage: { type: 'string' },
        cluster: { type: 'string' },
        to: { type: 'string' },
        reason: { type: 'string' },
        eni: { type: 'string' },
        'no-ssm': { type: 'boolean' },
        region: { type: 'string' },
        config: { type: 'string' },
        'ledger-table': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0]);
  }
  if (values.help === true) return null;
  const { stage, cluster, to, reason } = values;
  if (stage === undefined || !/^[a-zA-Z0-9-]{1,32}$/.test(stage)) throw new UsageError('--stage STAGE is required (letters, digits, -)');
  if (cluster === undefined || !ClusterNameSchema.safeParse(cluster).success) throw new UsageError('--cluster NAME is required (a cluster name)');
  if (to === undefined || !InstanceIdSchema.safeParse(to).success) throw new UsageError('--to INSTANCE_ID is required (i-...)');
  if (reason === undefined || reason.trim() === '' || reason.length > 200) throw new UsageError('--reason TEXT is required (at most 200 characters): it goes into the audit');
  if (values.eni !== undefined && !EniIdSchema.safeParse(values.eni).success) throw new UsageError(`--eni '${values.eni}' is not an ENI id (eni-...)`);
  const region = values.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined);
  if (region === undefined || !RegionSchema.safeParse(region).success) throw new UsageError('--region REGION (or AWS_REGION) is required');
  const names = stageNames(stage);
  return {
    stage,
    cluster,
    to,
    reason: reason.trim(),
    ...(values.eni === undefined ? {} : { eni: values.eni }),
    ssm: values['no-ssm'] !== true,
    region,
    configFile: values.config ?? `config/${stage}.json`,
    ledgerTable: values['ledger-table'] ?? names.ledgerTable,
    ssmDocument: names.ssmDocument,
    json: values.json === true,
  };
}

function lines(result: BreakGlassResult): string[] {
  const out = [
    `break-glass: cluster ${result.cluster}, VIP ${result.vip} -> ${result.instanceId} (${result.eni}), request ${result.requestId}, by ${result.operatorArn}`,
    `  ledger: vip#${result.cluster} version ${result.versionBefore ?? 'none'} -> ${result.versionAfter ?? 'none'}, holder ${result.holderBefore ?? 'none'} -> ${result.holderAfter}`,
    ...result.routes.map((route) => `  route ${result.vip}/32 in ${route.routeTableId}: ${route.change} (${route.before ?? 'absent'} -> ${route.after ?? 'absent'})`),
  ];
  if (result.sourceDestCheckDisabled) out.push(`  source/dest check turned off on ${result.eni}`);
  for (const command of result.ssmCommands) {
    out.push(`  SSM ${command.purpose} on ${command.instanceIds.join(', ')}: ${command.status} (command ${command.commandId})`);
  }
  const confirmed = result.ssmCommands.some((command) => command.purpose === 'add' && command.status === 'Success');
  out.push(`  ${result.outcome}: ${result.reason}`);
  if (!confirmed) out.push(`  the VIP is not confirmed on the instance's interface: on ${result.instanceId} run: ${result.manualCommand}`);
  return out;
}

/** Where the command writes, and what its AWS clients take besides the SDK's default chain. */
export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
  /** Endpoint and credentials for the clients (a test's moto); the SDK's default chain otherwise. */
  aws?: { endpoint?: string; credentials?: { accessKeyId: string; secretAccessKey: string } };
}

const CONSOLE: CommandIo = { out: (line) => console.log(line), err: (line) => console.error(line) };

export async function main(argv: string[], env: NodeJS.ProcessEnv, io: CommandIo = CONSOLE): Promise<number> {
  let options;
  try {
    options = parse(argv, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`break-glass: ${error.message}; see npm run break-glass -- --help`);
    return 2;
  }
  if (options === null) {
    io.out(USAGE);
    return 0;
  }
  const clientConfig = { region: options.region, maxAttempts: 5, ...io.aws };
  const ec2 = new EC2Client(clientConfig);
  const dynamodb = new DynamoDBClient(clientConfig);
  const ssm = new SSMClient(clientConfig);
  const sts = new STSClient(clientConfig);
  try {
    const config = parseControllerConfig(readFileSync(options.configFile, 'utf8'), { ssmDocument: options.ssmDocument });
    const cluster = config.clusters.find((candidate) => candidate.name === options.cluster);
    if (cluster === undefined) {
      io.err(`break-glass: no cluster "${options.cluster}" in ${options.configFile} (${config.clusters.map((c) => c.name).join(', ')})`);
      return 2;
    }
    const operatorArn = (await sts.send(new GetCallerIdentityCommand({}))).Arn ?? 'unknown caller';
    const result = await breakGlass(
      { ledger: new DynamoLedger(dynamodb, options.ledgerTable), routeTables: new Ec2RouteTables(ec2), members: new Ec2Members(ec2), nodeAddress: new SsmNodeAddress(ssm) },
      {
        cluster,
        instanceId: options.to,
        ...(options.eni === undefined ? {} : { eni: options.eni }),
        operatorArn,
        reason: options.reason,
        ssm: options.ssm,
        ssmWaitMs: config.ssmWaitSeconds * 1000,
        ttlDays: config.ledgerTtlDays,
      },
    );
    if (options.json) io.out(JSON.stringify(result, null, 2));
    else for (const line of lines(result)) io.out(line);
    return result.outcome === 'applied' ? 0 : 1;
  } catch (error) {
    if (error instanceof BreakGlassRefusedError) {
      io.err(`break-glass: refused, nothing changed: ${error.message}`);
      return 1;
    }
    io.err(`break-glass: failed: ${describeError(error)}`);
    return 1;
  } finally {
    for (const client of [ec2, dynamodb, ssm, sts]) client.destroy();
  }
}

// Run as the command (`npm run break-glass`); imported, it only exports main. (The module's URL is
// its real path, so the script's path is compared as one: a checkout reached by a link still runs.)
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2), process.env);
}
