import { DescribeEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { NetworkInterface } from '@aws-sdk/client-ec2';
import type { AwsCredentialIdentity } from '@smithy/types';
import { AwsJsonClient, DYNAMODB } from './aws-json.ts';
import { realpath } from 'node:fs/promises';
import { MEMBER_TAG_KEY } from '../lib/cluster-config.ts';
import type { AgentConfig } from './config.ts';
import { clientConfig, resolveCredentials } from './credentials.ts';
import type { Deadline } from './deadline.ts';
import { EXIT, type ExitCode } from './errors.ts';
import { MIN_NODE_MAJOR, detectPgpoolVersion, interfaceWithAddress, nodeMajor, ssmAgentPid } from './host-checks.ts';
import type { NodeIdentity } from './identity.ts';
import { InstanceMetadata, imdsEndpointFor } from './imds.ts';
import type { AgentIo } from './io.ts';
import { describeProblem, lookUpIdentity, type InspectCommand } from './inspect.ts';
import { readVipRecord } from './outcome.ts';
import { checkPgpoolConf, parsePgpoolVersion, readPgpoolConf, type CheckResult } from './pgpool-conf.ts';

export type { CheckResult } from './pgpool-conf.ts';

/** Beyond this the controller's proof freshness window (60 s by default) starts to bite. */
export const MAX_CLOCK_SKEW_SECONDS = 5;

export interface DoctorCommand extends InspectCommand {
  json?: boolean;
  /** pgpool.conf to check; its VIP line depends on the pgpool version. */
  pgpoolConf?: string;
  /** `4.3`, `4.7.2`...: else `pgpool --version` is asked. */
  pgpoolVersion?: string;
  /** Real path of the running agent, which if_up_cmd/if_down_cmd must name. */
  agentPath?: string;
}

/**
 * `doctor`: a pass/fail gate, run once per node before it may be elected, and after changes.
 * Exit 0 only when every line is OK. Read-only: it sends no switchover request and puts nothing
 * on the bus (a test event would reach every rule and archive on it).
 */
export async function runDoctor(command: DoctorCommand, io: AgentIo, deadline: Deadline): Promise<ExitCode> {
  const { config, iface } = command;
  const results: CheckResult[] = [];
  const report = (result: CheckResult): void => {
    results.push(result);
    if (command.json !== true) io.stdout(`${result.ok ? 'OK ' : 'FIX'} ${result.check}: ${result.text}`);
  };
  const finish = (): ExitCode => {
    const ok = results.every((result) => result.ok);
    if (command.json === true) io.stdout(JSON.stringify({ ok, checks: results }));
    return ok ? EXIT.done : EXIT.failed;
  };
  report({ check: 'config', ok: true, text: `${command.configPath}: cluster ${config.cluster}, VIP ${config.vip}, bus ${config.bus}, ledger ${config.ledgerTable}` });
  report(nodeResult(process.versions.node, process.execPath));

  const lookup = await lookUpIdentity(command, io.env, deadline);
  const primary = await primaryInterface(io.env, deadline);
  if (lookup.ok) {
    const { identity } = lookup;
    report({ check: 'imds', ok: true, text: `IMDSv2 at ${lookup.endpoint}: instance ${identity.instanceId}, region ${identity.region}` });
    report({ check: 'interface', ok: true, text: `${iface} (MAC ${identity.mac}) is ${identity.eni}; ${primary}` });
  } else {
    report({ check: 'imds', ok: false, text: `${lookup.problem}; the agent needs IMDSv2 (instance metadata on, hop limit 1 is fine) and an ENI as ${iface}; ${primary}` });
  }
  if (command.pgpoolConf !== undefined) for (const result of await pgpoolConfResults(command, io.env)) report(result);

  const identity = lookup.ok ? lookup.identity : undefined;
  const region = identity?.region ?? (lookup.ok ? undefined : lookup.region);
  if (region === undefined) {
    report({ check: 'aws', ok: false, text: `skipped the AWS checks: no region from IMDS; set region in ${command.configPath}` });
    return finish();
  }

  let credentials: AwsCredentialIdentity;
  try {
    credentials = await resolveCredentials(deadline);
  } catch (error) {
    report({ check: 'credentials', ok: false, text: `${describeProblem(error)}; attach an instance profile whose role the controller allows` });
    return finish();
  }
  const context: CheckContext = { config, region, credentials, identity, deadline, holder: undefined, env: io.env };
  for (const check of [checkCallerAndClock, checkLedger, checkMemberAndInterface, checkSsmAgent, checkBus]) {
    for (const result of await check(context)) report(result);
  }
  return finish();
}

interface CheckContext {
  config: AgentConfig;
  region: string;
  credentials: AwsCredentialIdentity;
  identity: NodeIdentity | undefined;
  deadline: Deadline;
  /** The ledger's holder, once read: the source/dest check matters only on the holder. */
  holder: string | undefined;
  env: NodeJS.ProcessEnv;
}

export function nodeResult(version: string, execPath: string): CheckResult {
  if (nodeMajor(version) >= MIN_NODE_MAJOR) return { check: 'node', ok: true, text: `Node.js v${version} (${execPath})` };
  return {
    check: 'node',
    ok: false,
    text: `Node.js v${version} (${execPath}): install Node.js ${MIN_NODE_MAJOR} or later (Node 20 reached end of life on 2026-04-30, and the AWS SDK drops it)`,
  };
}

/** Which host interface carries the instance's primary private IP (ens5 on Nitro images, eth0 on older ones). */
async function primaryInterface(env: NodeJS.ProcessEnv, deadline: Deadline): Promise<string> {
  try {
    const primaryIp = await new InstanceMetadata(imdsEndpointFor(env), deadline).get('meta-data/local-ipv4');
    const carrier = interfaceWithAddress(primaryIp);
    return carrier === undefined
      ? `the primary private IP ${primaryIp} is on no interface of this host`
      : `the primary private IP ${primaryIp} is on ${carrier}`;
  } catch (error) {
    return `the primary private IP is unknown (${describeProblem(error)})`;
  }
}

async function pgpoolConfResults(command: DoctorCommand, env: NodeJS.ProcessEnv): Promise<CheckResult[]> {
  const path = command.pgpoolConf ?? '';
  const settings = await readPgpoolConf(path);
  const version = command.pgpoolVersion === undefined ? await detectPgpoolVersion(env) : parsePgpoolVersion(command.pgpoolVersion);
  if (version === undefined || typeof version === 'string') {
    return [{ check: 'pgpool version', ok: false, text: version ?? `--pgpool-version '${command.pgpoolVersion ?? ''}' is not a version like 4.7` }];
  }
  const agentPath = command.agentPath ?? (await realpath(process.argv[1] ?? ''));
  return await checkPgpoolConf(settings, { path, version, vip: command.config.vip, iface: command.iface, agentPath });
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
    return { check: 'credentials', ok: false, text: `signing as ${arn}, not an instance-profile role: attach an instance profile to this instance` };
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

/** The member tag on the instance and on its ENI (ENIs do not inherit it), and the ENI's source/dest check. */
async function checkMemberAndInterface(context: CheckContext): Promise<CheckResult[]> {
  const { identity } = context;
  if (identity === undefined) {
    return [
      { check: 'member tag', ok: false, text: 'skipped: no instance known (see imds)' },
      { check: 'source/dest check', ok: false, text: 'skipped: no ENI known (see imds)' },
    ];
  }
  const { EC2Client, DescribeInstancesCommand, DescribeNetworkInterfacesCommand } = await import('./ec2-reads.ts');
  const ec2 = new EC2Client(clientConfig(context.region, context.credentials, 2));
  const tag = context.config.memberTag ?? { key: MEMBER_TAG_KEY, value: context.config.cluster };
  try {
    const [instances, interfaces] = await Promise.allSettled([
      context.deadline.race('waiting for DescribeInstances', (signal) =>
        ec2.send(new DescribeInstancesCommand({ InstanceIds: [identity.instanceId] }), { abortSignal: signal }),
      ),
      context.deadline.race('waiting for DescribeNetworkInterfaces', (signal) =>
        ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [identity.eni] }), { abortSignal: signal }),
      ),
    ]);
    const eni = interfaces.status === 'fulfilled' ? interfaces.value.NetworkInterfaces?.[0] : undefined;
    const instanceTags = instances.status === 'fulfilled' ? (instances.value.Reservations?.[0]?.Instances?.[0]?.Tags ?? []) : undefined;
    const tagged = (tags: readonly { Key?: string; Value?: string }[]): boolean => tags.some((t) => t.Key === tag.key && t.Value === tag.value);
    const missing: string[] = [];
    const unknown: string[] = [];
    if (instanceTags === undefined) unknown.push(`DescribeInstances failed: ${describeProblem(instances.status === 'rejected' ? instances.reason : undefined)} (grant ec2:DescribeInstances)`);
    else if (!tagged(instanceTags)) missing.push(identity.instanceId);
    if (eni === undefined) unknown.push(`DescribeNetworkInterfaces failed: ${describeProblem(interfaces.status === 'rejected' ? interfaces.reason : 'no such ENI')} (grant ec2:DescribeNetworkInterfaces)`);
    else if (!tagged(eni.TagSet ?? [])) missing.push(identity.eni);
    const tagText = `${tag.key}=${tag.value}`;
    const member: CheckResult =
      unknown.length > 0
        ? { check: 'member tag', ok: false, text: unknown.join('; ') }
        : missing.length > 0
          ? { check: 'member tag', ok: false, text: `${tagText} missing on ${missing.join(' and ')}: the controller refuses this node; aws ec2 create-tags --resources ${missing.join(' ')} --tags Key=${tag.key},Value=${tag.value}` }
          : { check: 'member tag', ok: true, text: `${tagText} on ${identity.instanceId} and ${identity.eni}` };
    return [member, sourceDestResult(eni, identity, context.holder)];
  } finally {
    ec2.destroy();
  }
}

/**
 * Routed packets for the VIP are dropped while the ENI checks that it is their destination. On a
 * standby that is fine: the controller turns the check off at the node's first `up`.
 */
export function sourceDestResult(eni: NetworkInterface | undefined, identity: NodeIdentity, holder: string | undefined): CheckResult {
  const check = 'source/dest check';
  if (eni === undefined) return { check, ok: false, text: `cannot read ${identity.eni} (see member tag)` };
  if (eni.SourceDestCheck === false) return { check, ok: true, text: `off on ${identity.eni}` };
  const turnOff = `aws ec2 modify-network-interface-attribute --network-interface-id ${identity.eni} --no-source-dest-check`;
  if (holder === identity.instanceId) {
    return { check, ok: false, text: `on for ${identity.eni}, and this node holds the VIP: VIP traffic is dropped until it is off; run: ${turnOff}` };
  }
  return {
    check,
    ok: true,
    text: `on for ${identity.eni}: fine on a standby, the controller turns it off at this node's first up (manageSourceDestCheck, the default; without it run: ${turnOff})`,
  };
}

/** The controller adds the VIP through SSM Run Command: the agent must run here and be registered. */
async function checkSsmAgent(context: CheckContext): Promise<CheckResult[]> {
  const pid = await ssmAgentPid();
  const running: CheckResult =
    pid === undefined
      ? { check: 'ssm agent', ok: false, text: 'no amazon-ssm-agent process on this host: install and start it (systemctl enable --now amazon-ssm-agent, or snap.amazon-ssm-agent.amazon-ssm-agent on Ubuntu)' }
      : { check: 'ssm agent', ok: true, text: `amazon-ssm-agent runs (pid ${pid})` };
  const { identity } = context;
  if (identity === undefined) return [running, { check: 'ssm registration', ok: false, text: 'skipped: no instance known (see imds)' }];
  const { SSMClient, DescribeInstanceInformationCommand } = await import('./ec2-reads.ts');
  const ssm = new SSMClient(clientConfig(context.region, context.credentials, 2));
  try {
    const answer = await context.deadline.race('waiting for SSM DescribeInstanceInformation', (signal) =>
      ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [identity.instanceId] }] }), { abortSignal: signal }),
    );
    const info = answer.InstanceInformationList?.find((entry) => entry.InstanceId === identity.instanceId);
    if (info === undefined) {
      return [running, { check: 'ssm registration', ok: false, text: `${identity.instanceId} is not registered with SSM in ${context.region}: the role needs AmazonSSMManagedInstanceCore, and the node HTTPS to the ssm, ssmmessages and ec2messages endpoints` }];
    }
    if (info.PingStatus !== 'Online') {
      return [running, { check: 'ssm registration', ok: false, text: `${identity.instanceId} is registered but ${info.PingStatus ?? 'not online'} (last ping ${info.LastPingDateTime?.toISOString() ?? 'never'}): restart amazon-ssm-agent and read its log` }];
    }
    return [running, { check: 'ssm registration', ok: true, text: `${identity.instanceId} online in SSM (agent ${info.AgentVersion ?? 'version unknown'})` }];
  } catch (error) {
    return [running, { check: 'ssm registration', ok: false, text: `DescribeInstanceInformation failed: ${describeProblem(error)} (the node policy grants ssm:DescribeInstanceInformation)` }];
  } finally {
    ssm.destroy();
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

/** The agent reads its outcome from the ledger: GetItem must work. Remembers the holder. */
async function checkLedger(context: CheckContext): Promise<CheckResult[]> {
  // The same signed GetItem `up` polls with: this checks what a switchover needs.
  const dynamodb = new AwsJsonClient(DYNAMODB, { region: context.region, credentials: context.credentials, env: context.env });
  const { config } = context;
  try {
    const vip = await readVipRecord(dynamodb, config.ledgerTable, config.cluster, context.deadline);
    if (vip !== undefined && !vip.released) context.holder = vip.holderInstanceId;
    const mine = vip?.holderInstanceId === context.identity?.instanceId ? ' (this node)' : '';
    const holder = vip === undefined ? 'no holder recorded yet' : `holder ${vip.holderInstanceId}${mine}${vip.released ? ' (released)' : ''}`;
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
