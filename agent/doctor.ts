import { DescribeEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { AwsCredentialIdentity } from '@smithy/types';
import { AwsJsonClient, DYNAMODB } from './aws-json.ts';
import type { AgentConfig } from './config.ts';
import { clientConfig, resolveCredentials } from './credentials.ts';
import type { Deadline } from './deadline.ts';
import { EXIT, type ExitCode } from './errors.ts';
import type { NodeIdentity } from './identity.ts';
import type { AgentIo } from './io.ts';
import { describeProblem, lookUpIdentity, type InspectCommand } from './inspect.ts';
import { readVipRecord } from './outcome.ts';

/** One preflight line: OK with what was found, or FIX with what to do. */
export interface CheckResult {
  check: string;
  ok: boolean;
  text: string;
}

/** Beyond this the controller's proof freshness window (60 s by default) starts to bite. */
export const MAX_CLOCK_SKEW_SECONDS = 5;

/**
 * `doctor`: what a newcomer runs once per node. Read-only: it sends no switchover request
 * and puts nothing on the bus (a test event would reach every rule and archive on it).
 */
export async function runDoctor(command: InspectCommand, io: AgentIo, deadline: Deadline): Promise<ExitCode> {
  const { config, iface } = command;
  const results: CheckResult[] = [];
  const report = (result: CheckResult): void => {
    results.push(result);
    io.stdout(`${result.ok ? 'OK ' : 'FIX'} ${result.check}: ${result.text}`);
  };
  report({ check: 'config', ok: true, text: `${command.configPath}: cluster ${config.cluster}, VIP ${config.vip}, bus ${config.bus}, ledger ${config.ledgerTable}` });

  const lookup = await lookUpIdentity(command, io.env, deadline);
  if (lookup.ok) {
    const { identity } = lookup;
    report({ check: 'imds', ok: true, text: `IMDSv2 at ${lookup.endpoint}: instance ${identity.instanceId}, region ${identity.region}` });
    report({ check: 'interface', ok: true, text: `${iface} (MAC ${identity.mac}) is ${identity.eni}` });
  } else {
    report({ check: 'imds', ok: false, text: `${lookup.problem}; the agent needs IMDSv2 (instance metadata on, hop limit 1 is fine) and an ENI as ${iface}` });
  }
  const identity = lookup.ok ? lookup.identity : undefined;
  const region = identity?.region ?? (lookup.ok ? undefined : lookup.region);
  if (region === undefined) {
    report({ check: 'aws', ok: false, text: `skipped the AWS checks: no region from IMDS; set region in ${command.configPath}` });
    return EXIT.failed;
  }

  let credentials: AwsCredentialIdentity;
  try {
    credentials = await resolveCredentials(deadline);
  } catch (error) {
    report({ check: 'credentials', ok: false, text: `${describeProblem(error)}; attach an instance profile whose role the controller allows` });
    return EXIT.failed;
  }
  for (const check of [checkCallerAndClock, checkSourceDestCheck, checkBus, checkLedger]) {
    for (const result of await check({ config, region, credentials, identity, deadline, env: io.env })) report(result);
  }
  return results.every((result) => result.ok) ? EXIT.done : EXIT.failed;
}

interface CheckContext {
  config: AgentConfig;
  region: string;
  credentials: AwsCredentialIdentity;
  identity: NodeIdentity | undefined;
  deadline: Deadline;
  env: NodeJS.ProcessEnv;
}

/** Which role signs (the controller wants session name = instance id) and how far our clock is from STS's. */
async function checkCallerAndClock(context: CheckContext): Promise<CheckResult[]> {
  const { STSClient, GetCallerIdentityCommand } = await import('./ec2-reads.ts');
  const sts = new STSClient(clientConfig(context.region, context.credentials, 2));
  let serverDate: string | undefined;
  let sentAt = 0;
  let answeredAt = 0;
  sts.middlewareStack.add(
    (next) => async (args) => {
      sentAt = Date.now();
      const result = await next(args);
      answeredAt = Date.now();
      const headers = (result.response as { headers?: Record<string, string> }).headers ?? {};
      serverDate = headers.date ?? headers.Date;
      return result;
    },
    { step: 'deserialize', name: 'pgpoolVipServerDate' },
  );
  try {
    const caller = await context.deadline.race('waiting for STS GetCallerIdentity', (signal) =>
      sts.send(new GetCallerIdentityCommand({}), { abortSignal: signal }),
    );
    const arn = caller.Arn ?? 'unknown';
    return [callerResult(arn, context.identity), clockResult(serverDate, sentAt, answeredAt)];
  } catch (error) {
    return [{ check: 'credentials', ok: false, text: `STS GetCallerIdentity failed: ${describeProblem(error)}` }];
  } finally {
    sts.destroy();
  }
}

export function callerResult(arn: string, identity: NodeIdentity | undefined): CheckResult {
  const match = /^arn:aws[\w-]*:sts::\d{12}:assumed-role\/([^/]+)\/(.+)$/.exec(arn);
  if (match === null) {
    return { check: 'credentials', ok: false, text: `signing as ${arn}, not an instance-profile role: remove AWS keys or profiles from pgpool's environment` };
  }
  const [, role, session] = match;
  if (identity !== undefined && session !== identity.instanceId) {
    return {
      check: 'credentials',
      ok: false,
      text: `role ${role} with session ${session}, not this instance (${identity.instanceId}): the controller only accepts the instance profile's own session`,
    };
  }
  return { check: 'credentials', ok: true, text: `role ${role}, session ${session} (${arn})` };
}

export function clockResult(serverDate: string | undefined, sentAt: number, answeredAt: number): CheckResult {
  const server = serverDate === undefined ? Number.NaN : Date.parse(serverDate);
  if (Number.isNaN(server)) return { check: 'clock', ok: false, text: 'STS answered without a Date header; cannot measure clock skew' };
  // Date has whole seconds: compare with the middle of the call and allow for that rounding.
  const skewSeconds = Math.round((server + 500 - (sentAt + answeredAt) / 2) / 1000);
  const ahead = skewSeconds < 0 ? `${-skewSeconds} s ahead of` : `${skewSeconds} s behind`;
  if (Math.abs(skewSeconds) > MAX_CLOCK_SKEW_SECONDS) {
    return { check: 'clock', ok: false, text: `this clock is ${ahead} STS: sync it (chrony with the Amazon Time Sync Service, 169.254.169.123)` };
  }
  return { check: 'clock', ok: true, text: skewSeconds === 0 ? 'within 1 s of STS' : `${ahead} STS` };
}

/** Routed packets for the VIP are dropped while the ENI checks that it is their destination. */
async function checkSourceDestCheck(context: CheckContext): Promise<CheckResult[]> {
  const eni = context.identity?.eni;
  if (eni === undefined) return [{ check: 'source/dest check', ok: false, text: 'skipped: no ENI known (see imds)' }];
  const { EC2Client, DescribeNetworkInterfacesCommand } = await import('./ec2-reads.ts');
  const ec2 = new EC2Client(clientConfig(context.region, context.credentials, 2));
  try {
    const described = await context.deadline.race('waiting for DescribeNetworkInterfaces', (signal) =>
      ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eni] }), { abortSignal: signal }),
    );
    const enabled = described.NetworkInterfaces?.[0]?.SourceDestCheck;
    if (enabled === false) return [{ check: 'source/dest check', ok: true, text: `off on ${eni}` }];
    return [
      {
        check: 'source/dest check',
        ok: false,
        text: `on for ${eni}: VIP traffic is dropped until it is off; the controller turns it off at this node's first up when manageSourceDestCheck is true, or run: aws ec2 modify-network-interface-attribute --network-interface-id ${eni} --no-source-dest-check`,
      },
    ];
  } catch (error) {
    return [{ check: 'source/dest check', ok: false, text: `DescribeNetworkInterfaces failed: ${describeProblem(error)} (grant ec2:DescribeNetworkInterfaces to check it)` }];
  } finally {
    ec2.destroy();
  }
}

/** DescribeEventBus rather than a test PutEvents: nothing lands on the bus. */
async function checkBus(context: CheckContext): Promise<CheckResult[]> {
  const eventbridge = new EventBridgeClient(clientConfig(context.region, context.credentials, 2));
  const bus = context.config.bus;
  try {
    const described = await context.deadline.race('waiting for DescribeEventBus', (signal) =>
      eventbridge.send(new DescribeEventBusCommand({ Name: bus }), { abortSignal: signal }),
    );
    return [{ check: 'bus', ok: true, text: `${described.Arn ?? bus} exists` }];
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    const fix =
      name === 'ResourceNotFoundException'
        ? `no bus ${bus} in ${context.region}: deploy the controller stack there or fix bus in the config`
        : name === 'AccessDeniedException'
          ? `cannot describe bus ${bus}: grant events:DescribeEventBus (and events:PutEvents) on it to the node role`
          : `DescribeEventBus ${bus} failed: ${describeProblem(error)}`;
    return [{ check: 'bus', ok: false, text: fix }];
  } finally {
    eventbridge.destroy();
  }
}

/** The agent reads its outcome from the ledger: GetItem must work. */
async function checkLedger(context: CheckContext): Promise<CheckResult[]> {
  // The same signed GetItem `up` polls with: this checks what a switchover needs.
  const dynamodb = new AwsJsonClient(DYNAMODB, { region: context.region, credentials: context.credentials, env: context.env });
  const { config } = context;
  try {
    const vip = await readVipRecord(dynamodb, config.ledgerTable, config.cluster, context.deadline);
    const holder = vip === undefined ? 'no holder recorded yet' : `holder ${vip.holderInstanceId}${vip.released ? ' (released)' : ''}`;
    return [{ check: 'ledger', ok: true, text: `${config.ledgerTable} readable: ${holder}` }];
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    const fix =
      name === 'ResourceNotFoundException'
        ? `no table ${config.ledgerTable} in ${context.region}: fix ledgerTable in the config`
        : `GetItem on ${config.ledgerTable} failed: ${describeProblem(error)} (the node role needs dynamodb:GetItem on it)`;
    return [{ check: 'ledger', ok: false, text: fix }];
  } finally {
    dynamodb.destroy();
  }
}
