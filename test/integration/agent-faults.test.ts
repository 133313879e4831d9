import { describe, expect, it, type TestContext } from 'vitest';
import { runAgent, type AgentNode } from '../../local/agent-node.ts';
import { startAwsFrontDoor, type AwsFrontDoor } from '../../local/front-door/front-door.ts';
import type { World } from '../../local/world.ts';
import { LOOPBACK, useAgentStage } from '../kit/agent-stage.ts';
import { requestPush } from '../kit/request-push.ts';

// The bundled agent and the local controller both talk to AWS through the front door, which
// injects the faults; the agent's exit code and its deadline are what is checked. Each test has
// its own front door (faults apply to every call through a door), and each test whose VIP is
// routed its own world, so the tests wait out their deadlines side by side. Five run at a time
// (vitest's maxConcurrency): the three that wait out their deadline come first.
/** The deadline the tests wait out: room for the agent to start and put its request on a loaded machine. */
const DEADLINE_SECONDS = 4;
/** Where the agent is expected to succeed: room for a loaded machine, never waited out when it passes. */
const ROOMY_DEADLINE_SECONDS = 30;

const stage = useAgentStage('af');

/**
 * The world of the specs that wait out their deadline: no request of theirs is ever applied (no
 * controller, or none of its calls get through), and each has a door of its own, so a controller
 * sees only the requests put through its door.
 */
let unansweredWorld: Promise<World> | undefined;
const unanswered = (): Promise<World> => (unansweredWorld ??= stage.world());

/**
 * A node behind a door of its own, in `world` or else a world of its own; its controller, handed
 * each request the door saw the bus accept, stops when the test ends.
 */
async function nodeIn(options: { controller?: TestContext; deadlineSeconds?: number; world?: Promise<World> }): Promise<{ door: AwsFrontDoor; node: AgentNode }> {
  const door = await startAwsFrontDoor({ host: '127.0.0.1', motoEndpoint: stage.endpoint });
  stage.started.push(door);
  const world = await (options.world ?? stage.world());
  if (options.controller !== undefined) {
    // The controller talks through the door too, so it meets the same faults as the agent.
    const cluster = world.config.clusters[0];
    const controller = requestPush(door).controller({ endpoint: door.endpoint, world, configOverrides: { clusters: [{ ...cluster, interface: LOOPBACK }] } });
    options.controller.onTestFinished(() => controller.stop());
  }
  const node = await stage.node(world, 0, { awsEndpoint: door.endpoint, config: { deadlineSeconds: options.deadlineSeconds ?? DEADLINE_SECONDS } });
  return { door, node };
}

describe.concurrent('Agent under AWS faults (bundled agent, front door before moto)', () => {
  it('exits 3 by its deadline when no controller ever answers', async () => {
    const { node } = await nodeIn({ world: unanswered() });
    const startedAt = Date.now();

    const run = await runAgent(stage.bundle.bundle, ['up', '198.19.0.50', LOOPBACK, '--no-interface-check'], node.env);
    const tookMs = Date.now() - startedAt;

    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/waiting for the controller's outcome/);
    // A bound, not a speed target (generous: node starts slowly on a loaded machine); the deadline is the agent's contract with pgpool.
    expect(tookMs).toBeLessThan((DEADLINE_SECONDS + 15) * 1000);
  });

  it('exits 3 by its deadline when PutEvents keeps failing', async (test) => {
    const { door, node } = await nodeIn({ controller: test, world: unanswered() });
    door.inject({ service: 'events', operation: 'PutEvents', fault: 'server-error', times: Number.POSITIVE_INFINITY });
    const startedAt = Date.now();

    const run = await runAgent(stage.bundle.bundle, ['up', '198.19.0.50', LOOPBACK, '--no-interface-check'], node.env);
    const tookMs = Date.now() - startedAt;
    door.clearFaults();

    expect([1, 3]).toContain(run.code);
    expect(tookMs).toBeLessThan((DEADLINE_SECONDS + 15) * 1000);
  });

  it('exits 3 by its deadline when the ledger is down throughout, for the controller and the agent alike', async (test) => {
    const { door, node } = await nodeIn({ controller: test, world: unanswered() });
    for (const operation of ['GetItem', 'PutItem', 'UpdateItem', 'TransactWriteItems']) {
      door.inject({ service: 'dynamodb', operation, fault: 'server-error', times: Number.POSITIVE_INFINITY });
    }
    const startedAt = Date.now();

    const run = await runAgent(stage.bundle.bundle, ['up', '198.19.0.50', LOOPBACK, '--no-interface-check'], node.env);
    const tookMs = Date.now() - startedAt;
    door.clearFaults();

    // No outcome can be written or read: the agent gives up at its deadline, as on a timeout.
    expect(run.code).toBe(3);
    expect(door.calls.some((call) => call.service === 'dynamodb' && call.fault === 'server-error')).toBe(true);
    expect(tookMs).toBeLessThan((DEADLINE_SECONDS + 15) * 1000);
  });

  it.for([
    ['PutEvents throttled once', { service: 'events', operation: 'PutEvents', fault: 'throttle' }],
    ['PutEvents answered 500 once', { service: 'events', operation: 'PutEvents', fault: 'server-error' }],
    ['PutEvents connection dropped before the call', { service: 'events', operation: 'PutEvents', fault: 'drop-before' }],
  ] as const)('exits 0 with the VIP routed when %s', async ([, rule], test) => {
    const { door, node } = await nodeIn({ controller: test, deadlineSeconds: ROOMY_DEADLINE_SECONDS });
    door.inject(rule);

    const run = await runAgent(stage.bundle.bundle, ['up', '198.19.0.50', LOOPBACK, '--no-interface-check'], node.env);
    door.clearFaults();

    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(door.calls.some((call) => call.fault === rule.fault)).toBe(true);
  });
});
