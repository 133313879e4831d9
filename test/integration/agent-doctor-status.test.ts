import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DescribeRouteTablesCommand, ReplaceRouteCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import type { World } from '../../local/world.ts';
import { node22Binary } from '../support/node22.ts';
import { runAgent, type AgentNode, type NodeOptions } from '../../local/agent-node.ts';
import { useAgentStage } from '../kit/agent-stage.ts';

// doctor and status as on-call uses them: pass/fail gates with an exit code, against moto and
// each node's own IMDS. The host's loopback stands in for the node's interface.
const IFACE = 'lo';
const VIP = '198.19.0.50';
const node22 = node22Binary();
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

const stage = useAgentStage('ds');
let ssm: SsmStandIn;
let ssmAgent: ChildProcess;

/**
 * SSM's DescribeInstanceInformation, which moto does not implement: the instances in
 * `online` are registered and online, every other one is unknown to SSM.
 */
interface SsmStandIn {
  endpoint: string;
  online: Set<string>;
  stop(): Promise<void>;
}

async function startSsmStandIn(): Promise<SsmStandIn> {
  const online = new Set<string>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.headers['x-amz-target'] !== 'AmazonSSM.DescribeInstanceInformation') {
        response.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(JSON.stringify({ __type: 'InvalidAction', message: 'only DescribeInstanceInformation here' }));
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Filters?: { Key: string; Values: string[] }[] };
      const ids = body.Filters?.find((filter) => filter.Key === 'InstanceIds')?.Values ?? [];
      const list = ids.filter((id) => online.has(id)).map((id) => ({ InstanceId: id, PingStatus: 'Online', AgentVersion: '3.3.1142.0', PlatformType: 'Linux' }));
      response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      response.end(JSON.stringify({ InstanceInformationList: list }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    online,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

beforeAll(async () => {
  ssm = await startSsmStandIn();
  // A process the kernel names like the SSM agent (comm is cut to 15 characters): `sleep` under its name.
  const fakeAgent = join(stage.bundle.dir, 'amazon-ssm-agent');
  await copyFile('/bin/sleep', fakeAgent);
  ssmAgent = spawn(fakeAgent, ['600'], { stdio: 'ignore' });
});
afterAll(async () => {
  ssmAgent?.kill();
  await ssm?.stop();
});

/** A world of the spec's own, with its controller (stopped when the spec ends). */
async function worldWithController(test: TestContext, options: { tagMembers?: boolean } = {}): Promise<World> {
  const world = await stage.world(options);
  stage.controller(world, test);
  return world;
}

async function nodeOf(world: World, index: number, options: Partial<NodeOptions> = {}): Promise<AgentNode> {
  // The VIP cannot reach the host's loopback: the interface is not compared (status says so).
  return await stage.node(world, index, {
    ...options,
    config: { routeTables: world.routeTableIds, checkInterface: false, ...options.config },
    extraEnv: { AWS_ENDPOINT_URL_SSM: ssm.endpoint, ...options.extraEnv },
  });
}

/** The lines the deploy guide gives, pointing at the bundle under test. */
async function pgpoolConf(name: string, overrides: Record<string, string> = {}): Promise<string> {
  const lines = {
    delegate_ip: `'${VIP}'`,
    if_up_cmd: `'${stage.bundle.bundle} up $_IP_$ ${IFACE}'`,
    if_down_cmd: `'${stage.bundle.bundle} down $_IP_$ ${IFACE}'`,
    arping_cmd: "'/usr/bin/true'",
    wd_escalation_command: "''",
    ...overrides,
  };
  const path = join(stage.bundle.dir, name);
  await writeFile(path, `${Object.entries(lines).map(([key, value]) => `${key} = ${value}`).join('\n')}\n`);
  return path;
}

// Each spec has a world of its own: the specs of every block run side by side.
describe.skipIf(node22 === undefined && process.env.CI !== 'true')('Command: pgpool-vip doctor (Node 22, moto, local IMDS, SSM stand-in)', { concurrent: true }, () => {
  const node = node22 ?? 'node-22-is-missing:run-npm-run-install:node22';

  it('exits 0 on a healthy standby whose source/dest check is still on, one OK line per check', async (test) => {
    const world = await worldWithController(test);
    const [leader, standby] = await Promise.all([nodeOf(world, 0), nodeOf(world, 1)]);
    ssm.online.add(standby.instance.instanceId);
    const up = await runAgent(stage.bundle.bundle, ['up', VIP, IFACE], leader.env, { node });
    expect([up.code, up.stderr, up.stdout]).toEqual([0, '', expect.stringContaining('applied')]);
    const conf = await pgpoolConf('pgpool-good.conf');

    const doctor = await runAgent(stage.bundle.bundle, ['doctor', IFACE, '--pgpool-conf', conf, '--pgpool-version', '4.7.2'], standby.env, { node });

    const { instanceId, eni, mac } = standby.instance;
    expect([doctor.code, doctor.stderr, doctor.stdout.split('\n').filter((line) => line.startsWith('FIX'))]).toEqual([0, '', []]);
    expect(doctor.stdout.split('\n')).toEqual([
      `OK  config: ${standby.configPath}: cluster ${world.config.clusters[0]?.name}, VIP ${VIP}, bus ${world.busName}, ledger ${world.ledgerTable}`,
      expect.stringMatching(/^OK {2}node: Node\.js v22\.\d+\.\d+ \(.+\)$/),
      `OK  imds: IMDSv2 at ${standby.imds.endpoint}: instance ${instanceId}, region us-east-1`,
      `OK  interface: lo (MAC ${mac}) is ${eni}; the primary private IP ${standby.instance.privateIp} is on no interface of this host`,
      'OK  pgpool version: Pgpool-II 4.7.2 (supported: 4.3 to 4.7)',
      `OK  pgpool.conf VIP: delegate_ip = '${VIP}' (Pgpool-II 4.4 and later)`,
      `OK  pgpool.conf if_up_cmd: ${stage.bundle.bundle} up $_IP_$ lo`,
      `OK  pgpool.conf if_down_cmd: ${stage.bundle.bundle} down $_IP_$ lo`,
      'OK  pgpool.conf arping_cmd: /usr/bin/true',
      'OK  pgpool.conf escalation: wd_escalation_command and wd_de_escalation_command are empty',
      `OK  credentials: role ${world.roleName}, session ${instanceId} (arn:aws:sts::123456789012:assumed-role/${world.roleName}/${instanceId})`,
      expect.stringMatching(/^OK {2}clock: (within 1 s of|\d+ s (ahead of|behind)) STS$/),
      `OK  ledger: ${world.ledgerTable} readable: holder ${leader.instance.instanceId}`,
      `OK  member tag: pgpool-vip:cluster=${world.config.clusters[0]?.name} on ${instanceId} and ${eni}`,
      expect.stringMatching(new RegExp(`^OK {2}source/dest check: on for ${eni}: fine on a standby, the controller turns it off at this node's first up`)),
      expect.stringMatching(/^OK {2}ssm agent: amazon-ssm-agent runs \(pid \d+\)$/),
      `OK  ssm registration: ${instanceId} online in SSM (agent 3.3.1142.0)`,
      `OK  bus: arn:aws:events:us-east-1:123456789012:event-bus/${world.busName} exists`,
      '',
    ]);
  });

  it('exits 1 on a node whose if_down_cmd path is wrong (pgpool would count it as success), an untagged, unregistered node', async (test) => {
    const world = await worldWithController(test, { tagMembers: false });
    const standby = await nodeOf(world, 1);
    const conf = await pgpoolConf('pgpool-wrong-down.conf', { if_down_cmd: `'/usr/local/sbin/pgpool-vip down $_IP_$ ${IFACE}'`});

    const doctor = await runAgent(stage.bundle.bundle, ['doctor', IFACE, '--pgpool-conf', conf, '--pgpool-version', '4.3.5', '--json'], standby.env, { node });

    expect(doctor.code).toBe(1);
    const report = JSON.parse(doctor.stdout) as { ok: boolean; checks: { check: string; ok: boolean; text: string }[] };
    const fixes = Object.fromEntries(report.checks.filter((check) => !check.ok).map((check) => [check.check, check.text]));
    const { instanceId, eni } = standby.instance;
    expect(report.ok).toBe(false);
    expect(fixes).toEqual({
      'pgpool.conf VIP': `Pgpool-II 4.3.5 does not know delegate_ip (an unrecognized parameter: no VIP is ever brought up): write delegate_IP = '${VIP}'`,
      'pgpool.conf if_down_cmd': `/usr/local/sbin/pgpool-vip does not exist or is not executable: pgpool would count the failed execv as success (its child exits 0); write if_down_cmd = '${stage.bundle.bundle} down $_IP_$ lo'`,
      'member tag': `pgpool-vip:cluster=${world.config.clusters[0]?.name} missing on ${instanceId} and ${eni}: the controller refuses this node; aws ec2 create-tags --resources ${instanceId} ${eni} --tags Key=pgpool-vip:cluster,Value=${world.config.clusters[0]?.name}`,
      'ssm registration': `${instanceId} is not registered with SSM in us-east-1: the role needs AmazonSSMManagedInstanceCore, and the node HTTPS to the ssm, ssmmessages and ec2messages endpoints`,
    });
  });
});

describe.concurrent('Command: pgpool-vip doctor on Node below 22', () => {
  it.skipIf(Number(process.versions.node.split('.')[0]) >= 22)('fails the node check and says which Node to install', async (test) => {
    const world = await worldWithController(test);
    const standby = await nodeOf(world, 1);

    const doctor = await runAgent(stage.bundle.bundle, ['doctor', IFACE, '--json'], standby.env);

    expect(doctor.code).toBe(1);
    const report = JSON.parse(doctor.stdout) as { checks: { check: string; ok: boolean; text: string }[] };
    expect(report.checks.find((check) => check.check === 'node')).toEqual({
      check: 'node',
      ok: false,
      text: `Node.js v${process.versions.node} (${process.execPath}): install Node.js 22 or later (Node 20 reached end of life on 2026-04-30, and the AWS SDK drops it)`,
    });
  });
});

describe.concurrent('Command: pgpool-vip status (moto, local IMDS)', () => {
  it('exits 0 when the routes point at the holder, and 1 naming the disagreement once a route drifts', async (test) => {
    const world = await worldWithController(test);
    const [leader, standby] = await Promise.all([nodeOf(world, 0), nodeOf(world, 1)]);
    const up = await runAgent(stage.bundle.bundle, ['up', VIP, IFACE], leader.env);
    expect([up.code, up.stderr]).toEqual([0, '']);

    const healthy = await runAgent(stage.bundle.bundle, ['status', IFACE], standby.env);
    // Someone moves the route by hand, past the controller.
    await stage.clients.ec2.send(
      new ReplaceRouteCommand({ RouteTableId: world.routeTableIds[0], DestinationCidrBlock: `${VIP}/32`, NetworkInterfaceId: standby.instance.eni }),
    );
    const [broken, brokenJson] = await Promise.all([
      runAgent(stage.bundle.bundle, ['status', IFACE], standby.env),
      runAgent(stage.bundle.bundle, ['status', IFACE, '--json'], standby.env),
    ]);

    const cluster = world.config.clusters[0]?.name;
    const table = world.routeTableIds[0];
    expect([healthy.code, healthy.stderr]).toEqual([0, '']);
    expect(healthy.stdout.split('\n')).toEqual([
      `cluster ${cluster}: VIP ${VIP}, region us-east-1`,
      `node: ${standby.instance.instanceId}, lo is ${standby.instance.eni}`,
      `route ${table}: ${VIP}/32 -> ${leader.instance.eni}, active`,
      expect.stringMatching(new RegExp(`^ledger: holder ${leader.instance.instanceId} \\(${leader.instance.eni}\\) since \\S+, request ${UUID}, version \\d+$`)),
      `interface lo: not checked (checkInterface false in ${standby.configPath})`,
      'agree: the routes, the ledger and the interface tell the same story',
      '',
    ]);
    expect(broken.code).toBe(1);
    expect(broken.stdout.split('\n').slice(-2)).toEqual([
      `DISAGREE: route ${table} points at ${standby.instance.eni}, the ledger's holder ${leader.instance.instanceId} is ${leader.instance.eni}`,
      '',
    ]);
    expect(brokenJson.code).toBe(1);
    expect(JSON.parse(brokenJson.stdout)).toMatchObject({
      cluster,
      vip: VIP,
      node: { instanceId: standby.instance.instanceId, eni: standby.instance.eni, interface: 'lo' },
      routes: [{ routeTableId: table, eni: standby.instance.eni, state: 'active' }],
      ledger: { holder: leader.instance.instanceId, holderEni: leader.instance.eni, released: false },
      interface: { name: 'lo', vip: 'not checked' },
      agree: false,
      problems: [`route ${table} points at ${standby.instance.eni}, the ledger's holder ${leader.instance.instanceId} is ${leader.instance.eni}`],
    });
    const routes = await stage.clients.ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [table ?? ''] }));
    expect(routes.RouteTables?.[0]?.Routes?.find((route) => route.DestinationCidrBlock === `${VIP}/32`)?.NetworkInterfaceId).toBe(standby.instance.eni);
  });
});
