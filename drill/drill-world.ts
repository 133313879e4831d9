import { DeleteRouteCommand, DescribeRouteTablesCommand, ModifyNetworkInterfaceAttributeCommand } from '@aws-sdk/client-ec2';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateQueueCommand, DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { spawn, type ChildProcess } from 'node:child_process';
import { build } from 'esbuild';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { REQUEST_DETAIL_TYPE, REQUEST_SOURCE, RequestDetailSchema, type RequestDetail } from '../lib/contract.ts';
import { requestKey } from '../lib/ledger-records.ts';
import { motoClients, MOTO_ACCOUNT_ID, type AwsClients } from '../local/aws-clients.ts';
import { putRequestEvent } from '../local/requests.ts';
import { requestEnvelope, startLocalController, type LocalController } from '../local/controller.ts';
import { startMotoServer, type MotoServer } from '../local/moto-server.ts';
import { cachedPackage } from '../local/packaged-service.ts';
import { createWorld, instanceRoleCredentials, runInstance, type World, type WorldInstance } from '../local/world.ts';
import { WORLD_STAGE } from '../local/world-stack.ts';
import type { SwitchoverResult } from '../functions/switchover/switchover-flow.ts';
import { startAwsFrontDoor, type AwsFrontDoor } from './aws-front-door.ts';
import { NO_LATENCY, type LatencyModel } from '../local/front-door/latency-profile.ts';
import type { ProbeSample } from './blackout.ts';
import { ip, setNodeMac } from './netns.ts';
import { startPostgresBackend } from './postgres-backend.ts';
import { namespaceArgv, runInNamespace, startInNamespace, waitFor, type ServiceProcess } from './processes.ts';
import { startSsmExecutor, type SsmExecutor } from './ssm-executor.ts';
import type { Timeline } from './timeline.ts';
import { APP_HOST, AWS_HOST, IMDS_ADDRESS, NODE_INTERFACE, NODES, PGPOOL_PORT, ROUTER, VIP, type NodeHost } from './topology.ts';
import { startVpcRouter, type VpcRouter } from './vpc-router.ts';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const DRILL_DIR = fileURLToPath(new URL('.', import.meta.url));

interface HelperPrograms {
  imdsNode: string;
  appProbe: string;
  /** Loaded with `node --import` in front of the agent: records its start and exit (if-cmd-recorder.ts). */
  ifCommandRecorder: string;
}

/**
 * The programs that run inside other namespaces (IMDS per node, the app host's probe), bundled
 * once: plain `node file.mjs` starts in a fraction of the time tsx needs on a busy machine.
 */
async function bundleHelpers(workdir: string): Promise<HelperPrograms> {
  const bundle = async (entry: string, name: string): Promise<string> => {
    const outfile = join(workdir, name);
    await build({ entryPoints: [join(DRILL_DIR, entry)], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning' });
    return outfile;
  };
  const [imdsNode, appProbe, ifCommandRecorder] = await Promise.all([
    bundle('imds-node.ts', 'imds-node.mjs'),
    bundle('app-probe.ts', 'app-probe.mjs'),
    bundle('if-cmd-recorder.ts', 'if-cmd-recorder.mjs'),
  ]);
  return { imdsNode, appProbe, ifCommandRecorder };
}

/** What the checks look at: the route table, the interfaces, and the app host's view. */
export interface Observation {
  /** Node the moto route table sends the VIP to (null: no route). */
  routeNode: string | null;
  /** Nodes with the VIP on eth0. */
  vipOn: string[];
}

/** Everything the scenarios run against: moto, the demo world, IMDS per node, SSM, router, backend, probe. */
export class DrillWorld {
  public samples: ProbeSample[] = [];
  public readonly results: SwitchoverResult[] = [];
  public readonly capturedRequests: RequestDetail[] = [];
  /** SSM commands already on the timeline. */
  private readonly commandsShown = new Set<string>();
  private controller: LocalController | null = null;
  private readonly services: ServiceProcess[] = [];
  private probe: ChildProcess | null = null;
  private tapQueueUrl = '';
  private tapping = false;
  private tapLoop: Promise<void> | null = null;

  private constructor(
    public readonly workdir: string,
    public readonly timeline: Timeline,
    public readonly moto: MotoServer,
    public readonly frontDoor: AwsFrontDoor,
    public readonly clients: AwsClients,
    public readonly world: World,
    private readonly executor: SsmExecutor,
    private readonly router: VpcRouter,
    private readonly byInstance: ReadonlyMap<string, { host: NodeHost; instance: WorldInstance }>,
    /** Every change of the router's VIP route (node name, or null for no route), oldest first. */
    public readonly routeChanges: ReadonlyArray<{ at: number; node: string | null }>,
    private readonly helpers: HelperPrograms,
  ) {}

  public static async create(
    workdir: string,
    timeline: Timeline,
    log: (line: string) => void,
    latency: LatencyModel = NO_LATENCY,
    options: { routeTables?: number; probeSeconds?: number } = {},
  ): Promise<DrillWorld> {
    log(`moto_server on ${AWS_HOST.ip}`);
    const moto = await startMotoServer({ host: AWS_HOST.ip, readyTimeoutMs: 60_000 });
    let frontDoor: AwsFrontDoor | undefined;
    try {
      frontDoor = await startAwsFrontDoor({ host: AWS_HOST.ip, motoEndpoint: moto.endpoint, latency });
      // The drill's own machinery (world set-up, router, SSM executor) talks to moto directly:
      // only the agent and the controller pay the latency model.
      const clients = motoClients(moto.endpoint);
      if (cachedPackage(WORLD_STAGE) === undefined) log('packaging the service (serverless package), once per change of its inputs');
      log('demo world in moto: bus, switchover rule, ledger, SSM document and node role from the packaged template; VPC, subnets, 3 instances (source/dest check off, as the article sets them up), route tables');
      const world = await createWorld(clients, { routeTableCount: options.routeTables ?? 1 });
      // The article's set-up turns the source/dest check off on every pgpool instance by hand, and
      // its script never touches it: the world starts so for both scripts alike, as the deploy
      // guide suggests. (The controller still turns a check it finds on off; the tests cover it.)
      await Promise.all(
        world.instances.map((instance) =>
          clients.ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: instance.eni, SourceDestCheck: { Value: false } })),
        ),
      );
      const byInstance = new Map<string, { host: NodeHost; instance: WorldInstance }>();
      for (const instance of world.instances) {
        const host = NODES.find((node) => node.ip === instance.privateIp);
        if (host === undefined) throw new Error(`no namespace for ${instance.instanceId} (${instance.privateIp})`);
        byInstance.set(instance.instanceId, { host, instance });
        byInstance.set(instance.eni, { host, instance });
      }
      const executor = startSsmExecutor({
        documentName: world.documentName,
        namespaceOf: (instanceId) => byInstance.get(instanceId)?.host.ns,
        sentCommands: frontDoor.sentCommands,
        onExecution: (run) => {
          const name = byInstance.get(run.instanceId)?.host.name ?? run.instanceId;
          const took = ((run.endedAt - run.startedAt) / 1000).toFixed(2);
          timeline.add('ssm', `ran document on ${name}: exit ${run.code} (${took}s) ${run.output.split('\n').pop() ?? ''}`, run.endedAt);
        },
        onError: (error) => timeline.add('ssm', `poll failed: ${(error as Error).message}`),
      });
      const routeChanges: Array<{ at: number; node: string | null }> = [];
      const routeTableId = world.routeTableIds[0];
      if (routeTableId === undefined) throw new Error('the world has no route table');
      const router = startVpcRouter({
        ec2: clients.ec2,
        routeTableId,
        addressOf: (target) => byInstance.get(target)?.instance.privateIp,
        onChange: (route) => {
          const name = route.target === null ? null : (byInstance.get(route.target)?.host.name ?? route.target);
          routeChanges.push({ at: Date.now(), node: name });
          timeline.add('router', name === null ? `no route for ${VIP}/32: VIP unreachable` : `${VIP}/32 -> ${name} (${route.target ?? ''})`);
        },
        onError: (error) => timeline.add('router', `sync failed: ${(error as Error).message}`),
      });
      // The router and the SSM stand-in follow what moto answered through the front door (push),
      // as the VPC's data plane and SSM Agent's message channel do, instead of polling moto.
      const door = frontDoor;
      door.onAnswered((call, status, command, body) => {
        if (command !== null) executor.take(command);
        if (call.service !== 'ec2' || !/^(Create|Replace|Delete)Route$/.test(call.operation)) return;
        const write = new URLSearchParams(body.toString('utf8'));
        const target = write.get('NetworkInterfaceId') ?? write.get('InstanceId');
        const [routeTableId, destination] = [write.get('RouteTableId'), write.get('DestinationCidrBlock')];
        if (status === 200 && call.operation !== 'DeleteRoute' && target !== null && routeTableId !== null && destination !== null) {
          router.follow({ routeTableId, destination, target });
        } else {
          router.sync();
        }
      });
      const helpers = await bundleHelpers(workdir);
      const drill = new DrillWorld(workdir, timeline, moto, frontDoor, clients, world, executor, router, byInstance, routeChanges, helpers);
      await drill.startNodeServices(log);
      await drill.startTap();
      log('PostgreSQL backend');
      drill.services.push(await startPostgresBackend(workdir));
      drill.startProbe(options.probeSeconds ?? 600);
      return drill;
    } catch (error) {
      await frontDoor?.stop();
      await moto.stop();
      throw error;
    }
  }

  /**
   * The SSM add that ran on `node` between `from` and `to` (the last one): its modelled delivery,
   * from SSM accepting it to its script starting there; null when none ran (the article's
   * script, the local fast path).
   */
  public ssmAddOn(node: string, from: number, to: number): { sentAt: number; startedAt: number; deliveryMs: number } | null {
    const runs = this.executor.executions.filter((run) => {
      const sent = this.frontDoor.sentCommands.get(run.commandId);
      return this.nodeOf(run.instanceId) === node && run.startedAt >= from && run.startedAt <= to && sent?.parameters.Action?.[0] === 'add';
    });
    const run = runs.at(-1);
    const sent = run === undefined ? undefined : this.frontDoor.sentCommands.get(run.commandId);
    if (run === undefined || sent === undefined) return null;
    return { sentAt: sent.sentAt, startedAt: run.startedAt, deliveryMs: sent.startsAt - sent.sentAt };
  }

  /** The node (pgpool-N) behind an instance id or ENI id. */
  public nodeOf(instanceOrEni: string | null | undefined): string | null {
    if (instanceOrEni === null || instanceOrEni === undefined) return null;
    return this.byInstance.get(instanceOrEni)?.host.name ?? instanceOrEni;
  }

  public instanceOf(nodeName: string): WorldInstance {
    const found = this.world.instances.find((instance) => instance.name === nodeName);
    if (found === undefined) throw new Error(`no instance for ${nodeName}`);
    return found;
  }

  public get routeTableId(): string {
    return this.world.routeTableIds[0] ?? '';
  }

  /** The agent's configuration file, as the README has users write it. */
  /** The agent's config on every node; `localAddress` turns the local fast path on. */
  public writeAgentConfig(options: { localAddress?: boolean } = {}): string {
    const path = join(this.workdir, 'agent.json');
    const config = {
      cluster: this.world.config.clusters[0]?.name ?? 'demo',
      vip: VIP,
      bus: this.world.busName,
      ledgerTable: this.world.ledgerTable,
      ...(options.localAddress === true ? { localAddress: true } : {}),
    };
    writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
    chmodSync(path, 0o644);
    return path;
  }

  /**
   * The environment pgpool starts with on a node (it hands it to if_up_cmd/if_down_cmd). IMDS
   * needs no variable: it answers at 169.254.169.254 inside the node, as on EC2.
   */
  public pgpoolEnv(host: NodeHost, extra: { path: string; home: string; ifCommandLog: string; agentConfig: string }): NodeJS.ProcessEnv {
    return {
      PATH: extra.path,
      HOME: extra.home,
      LANG: 'C.UTF-8',
      ...(process.env.TZ === undefined ? {} : { TZ: process.env.TZ }),
      AWS_ENDPOINT_URL: this.frontDoor.endpoint,
      AWS_REGION: this.world.region,
      AWS_DEFAULT_REGION: this.world.region,
      AWS_PAGER: '',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      PGPOOL_VIP_AGENT_CONFIG: extra.agentConfig,
      PGVD_IF_CMD_LOG: extra.ifCommandLog,
      PGVD_NODE: host.name,
    };
  }

  /**
   * Starts the controller. EventBridge invokes a Lambda target itself (push): the front door
   * hands each request event over the moment the bus accepted it, and the controller handles it
   * after the profile's EventBridge delivery and cold init (nothing under `moto`), beside any
   * other in flight. No queue and no poll stand between the bus and the handler.
   */
  public startController(options: { provisionedConcurrency?: number } = {}): void {
    if (this.controller !== null) return;
    const controller = startLocalController({
      endpoint: this.frontDoor.endpoint,
      latency: this.frontDoor.latency,
      provisionedConcurrency: options.provisionedConcurrency ?? 0,
      // A cold invocation is a new Lambda environment: its caches start empty.
      freshWhenCold: this.frontDoor.latency.name !== NO_LATENCY.name,
      world: this.world,
      delivery: 'push',
      onResult: (result) => {
        this.results.push(result);
        const receivedAt = Date.parse(result.receivedAt);
        // The sender's clock is this machine's: its issuedAt is when its agent signed the request.
        if (result.issuedAt !== null) this.timeline.add('agent', `signed ${result.action ?? '?'} request ${result.requestId ?? '?'}`, Date.parse(result.issuedAt));
        this.timeline.add('controller', `handler started on ${result.action ?? '?'} request ${result.requestId ?? '?'}`, receivedAt);
        // When EC2 answered each route write of this handler: what the VPC router then has to notice.
        for (const call of this.frontDoor.calls) {
          if (call.service !== 'ec2' || (call.operation !== 'ReplaceRoute' && call.operation !== 'CreateRoute')) continue;
          if (call.startedAt < receivedAt || call.endedAt === 0) continue;
          this.timeline.add('controller', `${call.operation} answered (status ${call.status ?? 'dropped'})`, call.endedAt);
        }
        // When SSM accepted each command sent since this handler started (once, whichever
        // handler ends first), and the delivery the model drew for it.
        for (const sent of this.frontDoor.sentCommands.values()) {
          if (sent.sentAt < receivedAt || this.commandsShown.has(sent.commandId)) continue;
          this.commandsShown.add(sent.commandId);
          const to = sent.instanceIds.map((id) => this.nodeOf(id) ?? id).join(', ');
          this.timeline.add('controller', `SendCommand ${sent.parameters.Action?.[0] ?? '?'} on ${to} accepted; SSM delivery ${Math.round(sent.startsAt - sent.sentAt)} ms`, sent.sentAt);
        }
        const who = this.nodeOf(result.instanceId) ?? '?';
        const why = result.reason === null ? '' : `: ${result.reason}`;
        const route = result.routes.map((entry) => `${entry.change} -> ${this.nodeOf(entry.after) ?? 'none'}`).join(', ');
        const delivered = result.issuedAt === null ? '' : `, issued->received ${Date.parse(result.receivedAt) - Date.parse(result.issuedAt)} ms`;
        this.timeline.add(
          'controller',
          `${result.action ?? '?'} from ${who} -> ${result.outcome}${why}${route === '' ? '' : ` (route ${route})`}; handler ${result.totalMs} ms${delivered}`,
        );
      },
      onError: (error) => this.timeline.add('controller', `error: ${(error as Error).message}`),
    });
    this.frontDoor.onAcceptedEvents((events, acceptedAt) => {
      for (const event of events) {
        const envelope = requestEnvelope(this.world, event, acceptedAt);
        if (envelope === null) continue;
        const detail = envelope.detail as { action?: unknown; instanceId?: unknown; requestId?: unknown } | null;
        const from = typeof detail?.instanceId === 'string' ? (this.nodeOf(detail.instanceId) ?? detail.instanceId) : '?';
        this.timeline.add('bus', `accepted ${String(detail?.action)} request ${String(detail?.requestId)} from ${from}; pushed to the controller`, acceptedAt);
        controller.deliver(envelope, acceptedAt);
      }
    });
    this.controller = controller;
  }

  /** Puts a request event on the bus as an agent does, through the front door, so the controller receives it. */
  public async putRequest(detail: RequestDetail): Promise<void> {
    await putRequestEvent(this.frontDoor.endpoint, this.world.busName, detail);
  }

  public async stopController(): Promise<void> {
    this.frontDoor.onAcceptedEvents(null);
    await this.controller?.stop();
    this.controller = null;
  }

  /** Where the moto route table sends the VIP, and which interfaces carry it. */
  public async observe(): Promise<Observation> {
    const described = await this.clients.ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [this.routeTableId] }));
    const route = described.RouteTables?.[0]?.Routes?.find((entry) => entry.DestinationCidrBlock === `${VIP}/32`);
    const routeNode = this.nodeOf(route?.NetworkInterfaceId ?? route?.InstanceId ?? null);
    const vipOn: string[] = [];
    for (const node of NODES) {
      const shown = ip('-n', node.ns, '-4', '-o', 'addr', 'show', 'dev', NODE_INTERFACE);
      if (shown.includes(` ${VIP}/32 `)) vipOn.push(node.name);
    }
    return { routeNode, vipOn };
  }

  /** Every run of the SSM document so far (the SSM agent's work on each instance). */
  public get ssmExecutions(): SsmExecutor['executions'] {
    return this.executor.executions;
  }

  /** The module `node --import` loads in front of the agent to record its runs. */
  public get ifCommandRecorder(): string {
    return this.helpers.ifCommandRecorder;
  }

  /** Per route table of the cluster, the node VIP/32 points to (null: no route). One moto call. */
  public async routeNodes(): Promise<Array<string | null>> {
    const ids = this.world.routeTableIds;
    const described = await this.clients.ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: ids }));
    return ids.map((id) => {
      const table = described.RouteTables?.find((candidate) => candidate.RouteTableId === id);
      const route = table?.Routes?.find((entry) => entry.DestinationCidrBlock === `${VIP}/32`);
      return this.nodeOf(route?.NetworkInterfaceId ?? route?.InstanceId ?? null);
    });
  }

  /** Nodes with the VIP on their interface. */
  public vipHolders(): string[] {
    return NODES.filter((node) => ip('-n', node.ns, '-4', '-o', 'addr', 'show', 'dev', NODE_INTERFACE).includes(` ${VIP}/32 `)).map((node) => node.name);
  }

  /** The ledger's status of a request (null: no item). */
  public async ledgerStatus(requestId: string): Promise<string | null> {
    const got = await this.clients.dynamodb.send(
      new GetItemCommand({ TableName: this.world.ledgerTable, Key: { pk: { S: requestKey(requestId) } }, ConsistentRead: true }),
    );
    const status = got.Item?.status;
    return status !== undefined && 'S' in status && typeof status.S === 'string' ? status.S : null;
  }

  /** True when every connect the app host made in the last windowMs succeeded (and there were some). */
  public appReachesVip(windowMs = 1000): boolean {
    const since = Date.now() - windowMs;
    const recent = this.samples.filter((sample) => sample.t >= since && sample.t <= Date.now() - 450);
    return recent.length >= 5 && recent.every((sample) => sample.ok);
  }

  /** Takes the VIP off one node's interface (as root, like the SSM document would). */
  public async removeVip(node: string): Promise<void> {
    const host = NODES.find((candidate) => candidate.name === node);
    if (host === undefined) throw new Error(`no node ${node}`);
    await runInNamespace({ ns: host.ns, argv: ['ip', 'addr', 'del', `${VIP}/32`, 'dev', NODE_INTERFACE] });
  }

  /** Removes the VIP from every node and the route from the table: a clean slate between runs. */
  public async resetVip(): Promise<void> {
    for (const node of NODES) {
      await runInNamespace({ ns: node.ns, argv: ['ip', 'addr', 'del', `${VIP}/32`, 'dev', NODE_INTERFACE] });
    }
    try {
      await this.clients.ec2.send(new DeleteRouteCommand({ RouteTableId: this.routeTableId, DestinationCidrBlock: `${VIP}/32` }));
    } catch {
      // no route
    }
    this.router.sync();
  }

  /**
   * Partitions a node from the other pgpool nodes, both ways, at the VPC router: packets between
   * them are dropped silently (as in a real partition; a local blackhole route would fail the
   * sends at once and let pgpool notice early). AWS, the backend and the app host stay reachable.
   */
  public isolate(name: string): void {
    for (const [from, to] of this.pairsWith(name)) {
      ip('-n', ROUTER.ns, 'rule', 'add', 'from', `${from}/32`, 'to', `${to}/32`, 'blackhole');
    }
    this.timeline.add(name, 'drill: partitioned from the other pgpool nodes');
  }

  public heal(name: string): void {
    for (const [from, to] of this.pairsWith(name)) {
      ip('-n', ROUTER.ns, 'rule', 'del', 'from', `${from}/32`, 'to', `${to}/32`, 'blackhole');
    }
    this.timeline.add(name, 'drill: partition healed');
  }

  private pairsWith(name: string): Array<[string, string]> {
    const target = NODES.find((node) => node.name === name);
    if (target === undefined) throw new Error(`no node ${name}`);
    return NODES.filter((other) => other.name !== name).flatMap((other): Array<[string, string]> => [
      [target.ip, other.ip],
      [other.ip, target.ip],
    ]);
  }

  /** An instance in the same VPC that is not a cluster member (no member tag), with role credentials. */
  public async createNonMember(): Promise<{ instanceId: string; eni: string; credentials: WorldInstance['credentials'] }> {
    const subnetId = this.world.instances[0]?.subnetId;
    const { instanceId, eni } = await runInstance(this.clients, { subnetId, instanceProfile: this.world.instanceProfile, name: 'not-a-member' });
    const credentials = await instanceRoleCredentials(this.clients, this.world.roleName, instanceId);
    return { instanceId, eni, credentials };
  }

  public async close(): Promise<void> {
    this.tapping = false;
    await this.tapLoop;
    await this.stopController();
    this.probe?.kill('SIGTERM');
    this.frontDoor.onAnswered(null);
    await this.executor.stop();
    await this.router.stop();
    await Promise.all(this.services.map((service) => service.stop()));
    await this.frontDoor.stop();
    await this.moto.stop();
  }

  private async startNodeServices(log: (line: string) => void): Promise<void> {
    log('per-node IMDS at 169.254.169.254 inside each node namespace');
    for (const instance of this.world.instances) {
      const host = this.byInstance.get(instance.instanceId)?.host;
      if (host === undefined) continue;
      setNodeMac(host.ns, instance.mac);
      ip('-n', host.ns, 'addr', 'add', `${IMDS_ADDRESS}/32`, 'dev', 'lo');
      const specPath = join(this.workdir, `imds-${host.name}.json`);
      writeFileSync(
        specPath,
        JSON.stringify({ region: this.world.region, roleName: this.world.roleName, vpcId: this.world.vpcId, accountId: MOTO_ACCOUNT_ID, instance }),
        { mode: 0o600 },
      );
      const logPath = join(this.workdir, `imds-${host.name}.log`);
      this.services.push(
        startInNamespace(
          `imds ${host.name}`,
          { ns: host.ns, cwd: REPO_ROOT, argv: [process.execPath, this.helpers.imdsNode, specPath] },
          logPath,
        ),
      );
    }
    for (const instance of this.world.instances) {
      const host = this.byInstance.get(instance.instanceId)?.host;
      if (host === undefined) continue;
      const answered = await waitFor(async () => {
        const probe = await runInNamespace({
          ns: host.ns,
          argv: ['curl', '-s', '-m', '2', '-X', 'PUT', `http://${IMDS_ADDRESS}/latest/api/token`, '-H', 'X-aws-ec2-metadata-token-ttl-seconds: 60'],
          timeoutMs: 5000,
        });
        return probe.code === 0 && probe.stdout.length > 10 ? true : undefined;
      }, 30_000, 200);
      if (answered === undefined) throw new Error(`IMDS of ${host.name} did not answer`);
    }
  }

  /** A second rule on the bus copies every request to a queue of the drill's, for the replay scenario. */
  private async startTap(): Promise<void> {
    const created = await this.clients.sqs.send(new CreateQueueCommand({ QueueName: 'pgvd-request-tap' }));
    this.tapQueueUrl = created.QueueUrl ?? '';
    const attributes = await this.clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: this.tapQueueUrl, AttributeNames: ['QueueArn'] }),
    );
    await this.clients.eventbridge.send(
      new PutRuleCommand({
        Name: 'pgvd-request-tap',
        EventBusName: this.world.busName,
        EventPattern: JSON.stringify({ source: [REQUEST_SOURCE], 'detail-type': [REQUEST_DETAIL_TYPE] }),
      }),
    );
    await this.clients.eventbridge.send(
      new PutTargetsCommand({
        Rule: 'pgvd-request-tap',
        EventBusName: this.world.busName,
        Targets: [{ Id: 'tap', Arn: attributes.Attributes?.QueueArn ?? '' }],
      }),
    );
    this.tapping = true;
    const EnvelopeSchema = z.object({ detail: RequestDetailSchema });
    this.tapLoop = (async () => {
      while (this.tapping) {
        try {
          const received = await this.clients.sqs.send(
            new ReceiveMessageCommand({ QueueUrl: this.tapQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
          );
          for (const message of received.Messages ?? []) {
            const parsed = EnvelopeSchema.safeParse(JSON.parse(message.Body ?? 'null'));
            if (parsed.success) this.capturedRequests.push(parsed.data.detail);
            await this.clients.sqs.send(new DeleteMessageCommand({ QueueUrl: this.tapQueueUrl, ReceiptHandle: message.ReceiptHandle }));
          }
        } catch {
          // the next poll tries again
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    })();
  }

  /** The app host's connects, for at most maxSeconds (the probe stops by itself then). */
  private startProbe(maxSeconds: number): void {
    const [file, ...args] = namespaceArgv({
      ns: APP_HOST.ns,
      argv: [process.execPath, this.helpers.appProbe, VIP, String(PGPOOL_PORT), String(maxSeconds)],
    });
    if (file === undefined) return;
    const child = spawn(file, args, { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
    this.probe = child;
    const SampleSchema = z.object({ t: z.number(), ok: z.boolean(), ms: z.number(), error: z.string().optional() });
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      try {
        const sample = SampleSchema.safeParse(JSON.parse(line));
        if (sample.success) this.samples.push(sample.data);
      } catch {
        // not a sample line
      }
    });
  }
}
