import { describe, expect, it } from 'vitest';
import { RequestDetailSchema, RequestEventSchema } from '../../lib/contract.ts';
import { requestDigest } from '../../lib/digest.ts';
import { DIGEST_HEADER } from '../../lib/proof.ts';
import { useAgentStage } from '../kit/agent-stage.ts';
import { queuedRequests, runAgent, startEventBridgeProxy } from '../../local/agent-node.ts';
import type { World } from '../../local/world.ts';

// The host's loopback stands in for eth0 (tests never add addresses outside namespaces they
// create), so the controller is told the cluster interface is `lo` and the agent looks up the
// simulated instance's MAC in its IMDS.
const IFACE = 'lo';
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

const stage = useAgentStage('ag');

/**
 * One world for the specs that never reach a controller: a bus that does not exist, a refusal
 * before anything is sent, doctor against missing resources. None of them puts a request on the
 * world's bus, so none can see another's.
 */
let quietWorld: Promise<World> | undefined;
const quiet = (): Promise<World> => (quietWorld ??= stage.world());

// Every spec that routes or waits for an answer has a world of its own, so the specs run side by
// side: most of their time is waiting on child processes and on deadlines. Five run at a time
// (vitest's maxConcurrency), so the longest come first: the deadline, then the chains of runs.
describe.concurrent('Function: pgpool-vip up/down (bundled agent, moto, local IMDS, local controller)', () => {
  // Its one progress line comes 2 s into the outcome wait and before the 6 s deadline: the agent
  // must reach that wait within 4 s of its start (a fraction of a second on a quiet machine).
  it('exits 3 at its deadline when no controller answers, after putting a valid signed request on the bus', async () => {
    const world = await stage.world();
    const node = await stage.node(world, 0, { config: { deadlineSeconds: 6 } });

    const run = await runAgent(stage.bundle.bundle, ['up', '198.19.0.50', IFACE], node.env);

    expect(run.code).toBe(3);
    const requestId = new RegExp(`request (${UUID})`).exec(run.stderr)?.[1];
    expect(run.stderr).toBe(
      `pgpool-vip: timed out after 6 s waiting for the controller's outcome of request ${requestId} in ledger ${world.ledgerTable}; the controller's answer: no record yet; likely cause: the controller never took the request up: its Lambda or the bus's rule is not running (see the dead-letter and controller-errors alarms), or bus/ledgerTable in the agent config name another stage\n`,
    );
    // While it waited, one line said what for, how long so far and how long it would still wait.
    expect(run.progress).toEqual([
      expect.stringMatching(new RegExp(`^pgpool-vip: still waiting after 2\\.\\d s for the controller's outcome of request ${requestId} \\(ledger: no record yet\\); giving up in [0-3]\\.\\d s$`)),
    ]);
    const [event] = await queuedRequests(stage.clients.sqs, world.requestQueueUrl);
    const detail = RequestDetailSchema.parse(RequestEventSchema.parse(event).detail);
    expect(detail).toMatchObject({ action: 'up', requestId, instanceId: node.instance.instanceId, eni: node.instance.eni, interface: IFACE });
    expect(detail.proof.headers[DIGEST_HEADER]).toBe(requestDigest(detail));
    // The proof is accepted by STS as the instance's own role session.
    const sts = await fetch(stage.endpoint, { method: 'POST', headers: detail.proof.headers, body: detail.proof.body });
    expect(await sts.text()).toContain(`assumed-role/${world.roleName}/${node.instance.instanceId}</Arn>`);
  });

  it('moves the VIP to the second node, then releases it with down from that node', async ({ onTestFinished }) => {
    const world = await stage.world();
    stage.controller(world, { onTestFinished });
    const [first, second] = [await stage.node(world, 0), await stage.node(world, 1)];
    const firstUp = await runAgent(stage.bundle.bundle, ['up', '198.19.0.50', IFACE, '--no-interface-check'], first.env);
    expect([firstUp.code, firstUp.stderr]).toEqual([0, '']);

    const up = await runAgent(stage.bundle.bundle, ['up', '198.19.0.50', IFACE, '--no-interface-check'], second.env);
    const down = await runAgent(stage.bundle.bundle, ['down', '198.19.0.50', IFACE, '--no-interface-check'], second.env);

    expect([up.code, up.stderr]).toEqual([0, '']);
    expect([down.code, down.stderr]).toEqual([0, '']);
    expect(down.stdout).toMatch(/^pgpool-vip: down 198\.19\.0\.50 on lo .*: (applied|noop), request /);
    // The route is never deleted by down: it still points at the last holder.
    expect(await stage.routeTarget(world)).toBe(second.instance.eni);
  });

  it('sends the same request again when the controller reports it failed, and exits 0 once it converges', async ({ onTestFinished }) => {
    // Prepare: the controller's first route write fails (throttled), the second goes through.
    const world = await stage.world();
    const controller = stage.controller(world, { onTestFinished });
    let failures = 1;
    controller.clients.ec2.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'CreateRouteCommand' && failures > 0) {
          failures -= 1;
          throw Object.assign(new Error('Request limit exceeded.'), { name: 'RequestLimitExceeded' });
        }
        return next(args);
      },
      { step: 'initialize', name: 'throttleFirstRouteWrite' },
    );
    const node = await stage.node(world, 0);

    // Act
    const run = await runAgent(stage.bundle.bundle, ['up', '198.19.0.50', IFACE, '--no-interface-check'], node.env);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(
      new RegExp(
        `^pgpool-vip: controller failed request ${UUID} at route: route table rtb-[0-9a-f]+: RequestLimitExceeded: Request limit exceeded\\.; sending the request again \\(2 of 3\\)\\n$`,
      ),
    );
    expect(run.stdout).toMatch(/: applied, request /);
    expect(await stage.routeTarget(world)).toBe(node.instance.eni);
  });

  it('routes the VIP to the node on up and exits 0 naming the outcome', async ({ onTestFinished }) => {
    // Prepare
    const world = await stage.world();
    stage.controller(world, { onTestFinished });
    const node = await stage.node(world, 0);
    // Act
    const run = await runAgent(stage.bundle.bundle, ['up', '198.19.0.50', IFACE, '--no-interface-check'], node.env);
    // Assess
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(
        `^pgpool-vip: up 198\\.19\\.0\\.50 on lo \\(${node.instance.instanceId}, ${node.instance.eni}\\): applied, request ${UUID}; interface check skipped \\(--no-interface-check\\)\\n$`,
      ),
    );
    expect(await stage.routeTarget(world)).toBe(node.instance.eni);
  });

  it('retries PutEvents refused with ThrottlingException (HTTP 200, FailedEntryCount 1) and then succeeds', async ({ onTestFinished }) => {
    const world = await stage.world();
    stage.controller(world, { onTestFinished });
    const proxy = await startEventBridgeProxy(stage.eventsEndpoint, { refusals: 2 });
    stage.started.push(proxy);
    const node = await stage.node(world, 0, { extraEnv: { AWS_ENDPOINT_URL_EVENTBRIDGE: proxy.endpoint } });

    const run = await runAgent(stage.bundle.bundle, ['up', '198.19.0.50', IFACE, '--no-interface-check'], node.env);

    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(proxy.putEvents).toEqual(['throttled', 'throttled', 'forwarded']);
    expect(await stage.routeTarget(world)).toBe(node.instance.eni);
  });

  it('exits 1 with the controller reason when the instance is not a cluster member', async ({ onTestFinished }) => {
    const world = await stage.world({ tagMembers: false });
    stage.controller(world, { onTestFinished });
    const node = await stage.node(world, 0);

    const run = await runAgent(stage.bundle.bundle, ['up', '198.19.0.50', IFACE, '--no-interface-check'], node.env);

    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      new RegExp(
        `^pgpool-vip: controller rejected request ${UUID}: instance ${node.instance.instanceId} is not a member of cluster "${world.config.clusters[0]?.name}" \\(missing tag pgpool-vip:cluster=${world.config.clusters[0]?.name}\\)\\n$`,
      ),
    );
    expect(await stage.routeTarget(world)).toBeNull();
  });

  it('exits 1 naming the AWS error when the bus does not exist', async () => {
    const world = await quiet();
    const node = await stage.node(world, 0, { config: { bus: 'no-such-bus', deadlineSeconds: 10 } });

    const run = await runAgent(stage.bundle.bundle, ['up', '198.19.0.50', IFACE], node.env);

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^pgpool-vip: PutEvents to bus no-such-bus failed after 3 attempts: ResourceNotFoundException: .+\n$/);
  });

  it('sends nothing, not even to IMDS, when the VIP is not the cluster VIP or the interface does not exist', async () => {
    const world = await quiet();
    const node = await stage.node(world, 0);

    const wrongVip = await runAgent(stage.bundle.bundle, ['up', '198.19.0.51', IFACE], node.env);
    const noInterface = await runAgent(stage.bundle.bundle, ['up', '198.19.0.50', 'pgvipnone0'], node.env);

    expect([wrongVip.code, wrongVip.stderr]).toEqual([
      2,
      `pgpool-vip: VIP 198.19.0.51 is not the VIP of cluster ${world.config.clusters[0]?.name} (198.19.0.50 in ${node.configPath}); check delegate_ip in pgpool.conf (delegate_IP up to pgpool 4.3)\n`,
    ]);
    expect([noInterface.code, noInterface.stderr]).toEqual([
      2,
      "pgpool-vip: no interface 'pgvipnone0' on this host (/sys/class/net/pgvipnone0 is missing)\n",
    ]);
    expect(node.imds.requests).toEqual([]);
    expect(await queuedRequests(stage.clients.sqs, world.requestQueueUrl)).toEqual([]);
  });
});

describe.concurrent('Function: pgpool-vip status and doctor (bundled agent, moto, local IMDS)', () => {
  it('says what to fix when the bus and the ledger table do not exist', async () => {
    const world = await quiet();
    const node = await stage.node(world, 1, { config: { bus: 'no-such-bus', ledgerTable: 'no-such-table' } });

    const doctor = await runAgent(stage.bundle.bundle, ['doctor', IFACE], node.env);

    expect(doctor.code).toBe(1);
    const lines = doctor.stdout.split('\n');
    expect(lines).toContain('FIX bus: no bus no-such-bus in us-east-1: deploy the controller stack there or fix bus in the config');
    expect(lines).toContain('FIX ledger: no table no-such-table in us-east-1: fix ledgerTable in the config');
    // A standby whose ENI still checks source/dest is fine: the controller turns it off at its first up.
    expect(lines.filter((line) => line.startsWith('FIX source/dest check'))).toEqual([]);
  });
});
