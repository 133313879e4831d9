/**
 * The race property: random interleavings of up, down, duplicate and delayed deliveries from
 * three nodes, with concurrent invocations and injected faults, against the real switchover
 * handler on in-memory AWS. Shared by the property test (few runs) and bench/races.ts (many).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import fc from 'fast-check';
import { awsSwitchoverPorts } from '../../functions/adapters/aws-ports.ts';
import { createSwitchoverHandler, type SwitchoverResult } from '../../functions/switchover/switchover-flow.ts';
import { MEMBER_TAG_KEY, parseControllerConfig } from '../../lib/cluster-config.ts';
import type { RequestDetail } from '../../lib/contract.ts';
import { RequestRecordSchema, requestKey, VipRecordSchema, vipKey } from '../../lib/ledger-records.ts';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { localContext } from '../controller.ts';
import { envelope, signedDetail } from '../requests.ts';
import type { World, WorldInstance } from '../world.ts';
import { seededRandom } from '../front-door/random.ts';
import { InMemoryAws, type FakeFault } from './in-memory-aws.ts';

const CLUSTER = 'race';
const VIP = '198.19.0.50';
const VIP_CIDR = `${VIP}/32`;
const ACCOUNT = '123456789012';
const ROLE = 'pgpool-vip-node';
const ROUTE_TABLES = ['rtb-0000000000000001a', 'rtb-0000000000000002b', 'rtb-0000000000000003c'];
const NODES = [0, 1, 2] as const;
/** The SDK clients' wait before a retry, and how long a write whose answer was lost may land: see createRaceWorld. */
const RETRY_DELAY_MS = 2;
const UNANSWERED_WRITE_LANDS_WITHIN_MS = 20;
type Node = (typeof NODES)[number];

/** One change of leader: who leads from now on, and what the previous leader does about it. */
export interface Term {
  leader: Node;
  /**
   * What pgpool on the previous leader does: `down` (it knows it lost and runs if_down_cmd),
   * `silent` (it crashed or is cut off), or `reacquire` (cut off, it still believes it leads and
   * re-runs if_up_cmd from its watchdog when fencing takes the VIP off its interface).
   */
  previous: 'down' | 'silent' | 'reacquire';
  /** The new leader's pgpool restarted since it last held the VIP (a new watchdog process). */
  restarted: boolean;
}

export interface RaceScenario {
  terms: Term[];
  /** Per request (in issue order, cycled): extra copies EventBridge delivers, and their delays (scheduler turns). */
  duplicates: number[][];
  /** Delay (scheduler turns) before each request's first delivery. */
  firstDelays: number[];
  /** The n-th AWS call of the run gets the fault (a transient one: the call after it goes through). */
  faults: Array<{ atCall: number; fault: FakeFault }>;
  /** Seed of the scheduler turns each AWS call waits, so concurrent invocations interleave. */
  schedule: number;
  /** Every route write fails (checks that the property can fail at all). */
  breakRouteWrites?: boolean;
}

export interface ScenarioOptions {
  maxTerms: number;
}

/** fast-check generator of scenarios. */
export function scenarioArbitrary(options: ScenarioOptions): fc.Arbitrary<RaceScenario> {
  const term = fc.record({
    leader: fc.constantFrom(...NODES),
    previous: fc.constantFrom<Term['previous']>('down', 'down', 'silent', 'reacquire'),
    restarted: fc.boolean(),
  });
  return fc.record({
    terms: fc
      .array(term, { minLength: 1, maxLength: options.maxTerms })
      .map((terms) =>
        // A change of leader goes to another node.
        terms.reduce<Term[]>((kept, next) => {
          const previous = kept.at(-1);
          kept.push(previous !== undefined && previous.leader === next.leader ? { ...next, leader: (((next.leader + 1) % 3) as Node) } : next);
          return kept;
        }, []),
      ),
    duplicates: fc.array(fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 2 }), { minLength: 1, maxLength: 12 }),
    firstDelays: fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 12 }),
    faults: fc.array(
      fc.record({ atCall: fc.integer({ min: 0, max: 150 }), fault: fc.constantFrom<FakeFault>('throttle', 'server-error', 'lost-answer') }),
      { maxLength: 3 },
    ),
    schedule: fc.integer({ min: 0, max: 0x7fffffff }),
  });
}

interface IssuedRequest {
  node: Node;
  detail: RequestDetail;
  index: number;
  phase: number;
}

export interface RaceOutcome {
  /** Invariants that did not hold; empty when all held. */
  broken: string[];
  requests: number;
  deliveries: number;
  faultsInjected: number;
  outcomes: Record<string, number>;
}

const turns = async (count: number): Promise<void> => {
  for (let turn = 0; turn < count; turn += 1) await new Promise((resolve) => setImmediate(resolve));
};

const BOOT_IDS = ['0b0e0000-0000-4000-8000-000000000000', '0b0e0000-0000-4000-8000-000000000001', '0b0e0000-0000-4000-8000-000000000002'];

/**
 * Runs one scenario, term by term. In a term the previous leader's down (or re-acquire) and the
 * new leader's up are delivered concurrently, in any order, each by its agent, which waits for
 * the outcome and sends a `failed` request again (twice at most). Extra copies of a request
 * (EventBridge delivers at least once) come whenever their delay says, into the next term too.
 * The next term starts once both agents are done, as pgpool's next election comes seconds later.
 * Checks, once everything settled:
 * - one outcome per request: every request ends with exactly one settled record in the ledger;
 * - no route table is left without the VIP route, none was deleted, all point at the ledger's holder;
 * - the route ends on the latest legitimate leader: the last term's leader holds the VIP.
 */
export async function runScenario(scenario: RaceScenario, trace?: (line: string) => void): Promise<RaceOutcome> {
  const random = seededRandom(scenario.schedule);
  let callCount = 0;
  let faultsInjected = 0;
  const faultAt = new Map(scenario.faults.map((fault) => [fault.atCall, fault.fault]));
  const { aws, handler, world, instances, clients, stsEndpoint } = createRaceWorld(async (_service, operation) => {
    await turns(Math.floor(random() * 4));
    if (scenario.breakRouteWrites === true && (operation === 'CreateRoute' || operation === 'ReplaceRoute')) return 'server-error';
    const fault = faultAt.get(callCount) ?? null;
    callCount += 1;
    if (fault !== null) faultsInjected += 1;
    return fault;
  });

  // Issue times 2 s apart per term (a loser's down 1 s before the winner's up), in the past.
  const base = Date.now() - 30_000;
  const watchdogs = [100, 100, 100];
  let escalations = 1000;
  const issued: IssuedRequest[] = [];
  const issue = async (node: Node, action: 'up' | 'down', at: number, phase: number, escalation: boolean): Promise<IssuedRequest> => {
    const instance = world.instances[node] as WorldInstance;
    escalations += 1;
    const incarnation = {
      bootId: BOOT_IDS[node] as string,
      watchdog: `${watchdogs[node]}@${1000 + (watchdogs[node] ?? 0)}`,
      escalation: escalation ? `${escalations}@${5000 + escalations}` : null,
    };
    const detail = await signedDetail(world, instance, { action, issuedAt: new Date(at), stsEndpoint: stsEndpoint.href, detail: { incarnation } });
    const request = { node, detail, index: issued.length, phase };
    issued.push(request);
    return request;
  };

  const results = new Map<string, SwitchoverResult[]>();
  const thrown: string[] = [];
  let deliveries = 0;
  const deliver = async (request: IssuedRequest): Promise<SwitchoverResult | null> => {
    deliveries += 1;
    try {
      const result = await handler(envelope(request.detail, world), localContext());
      results.set(request.detail.requestId, [...(results.get(request.detail.requestId) ?? []), result]);
      trace?.(`#${request.index} ${request.detail.action} node ${request.node} -> ${result.outcome}${result.duplicate ? ' (duplicate)' : ''} ${result.reason ?? ''}`);
      return result;
    } catch (error) {
      thrown.push(`${request.detail.action} ${request.detail.requestId}: ${(error as Error).message}`);
      return null;
    }
  };
  /** The agent: sends, waits for the outcome, and sends a failed request again (twice at most). */
  const agent = async (request: IssuedRequest): Promise<void> => {
    await turns(scenario.firstDelays[request.index % scenario.firstDelays.length] ?? 0);
    for (let send = 0; send < 3; send += 1) {
      const result = await deliver(request);
      // A copy still being handled answers noop: the agent reads the ledger until it settles.
      if (result?.duplicate === true && result.outcome === 'noop') {
        await waitSettled(aws, request.detail.requestId);
        const settled = aws.items.get(JSON.stringify({ S: requestKey(request.detail.requestId) }));
        if (settled === undefined || unmarshall(settled).status !== 'failed') return;
        continue;
      }
      if (result !== null && result.outcome !== 'failed') return;
    }
  };
  const stragglers: Array<Promise<unknown>> = [];
  const copies = (request: IssuedRequest): void => {
    for (const delay of scenario.duplicates[request.index % scenario.duplicates.length] ?? []) {
      stragglers.push(turns(delay).then(() => deliver(request)));
    }
  };

  for (const [phase, term] of scenario.terms.entries()) {
    const at = base + (phase + 1) * 2_000;
    const previous = scenario.terms[phase - 1];
    if (term.restarted) watchdogs[term.leader] = (watchdogs[term.leader] ?? 100) + 1;
    const requests: IssuedRequest[] = [];
    if (previous !== undefined && term.previous === 'down') requests.push(await issue(previous.leader, 'down', at - 1_000, phase, false));
    requests.push(await issue(term.leader, 'up', at, phase, true));
    // The cut-off old leader's watchdog re-runs if_up_cmd after fencing took the VIP away.
    if (previous !== undefined && term.previous === 'reacquire') requests.push(await issue(previous.leader, 'up', at + 500, phase, false));
    for (const request of requests) copies(request);
    await Promise.all(requests.map(agent));
  }
  await Promise.all(stragglers);

  const broken: string[] = [];
  for (const request of issued) {
    const item = aws.items.get(JSON.stringify({ S: requestKey(request.detail.requestId) }));
    const record = item === undefined ? null : RequestRecordSchema.parse(unmarshall(item));
    const what = `request ${request.index} (${request.detail.action} node ${request.node}, term ${request.phase + 1})`;
    if (record === null) broken.push(`${what} has no ledger record`);
    else if (record.status === 'claimed') broken.push(`${what} never got an outcome (still claimed)`);
  }
  if (thrown.length > 0) broken.push(`invocations threw: ${thrown.slice(0, 3).join('; ')}`);
  if (aws.deletedRoutes > 0) broken.push(`${aws.deletedRoutes} route deletions`);

  const vipItem = aws.items.get(JSON.stringify({ S: vipKey(CLUSTER) }));
  const vip = vipItem === undefined ? null : VipRecordSchema.parse(unmarshall(vipItem));
  const targets = aws.routeTargets(VIP_CIDR);
  if (vip !== null) {
    const missing = Object.entries(targets).filter(([, target]) => target === null);
    if (missing.length > 0) broken.push(`route tables without the VIP route while ${vip.holderInstanceId} holds it: ${missing.map(([id]) => id).join(', ')}`);
    const wrong = Object.entries(targets).filter(([, target]) => target !== null && target !== vip.holderEni);
    if (wrong.length > 0) broken.push(`routes point at ${wrong.map(([, target]) => target).join(', ')}, the ledger's holder is ${vip.holderEni}`);
  }
  const leader = instances[scenario.terms.at(-1)?.leader ?? 0];
  if (vip?.holderInstanceId !== leader?.instanceId || vip?.released === true) {
    broken.push(`the last leader ${leader?.instanceId} does not hold the VIP: the ledger says ${vip?.holderInstanceId ?? 'nobody'}${vip?.released ? ' (released)' : ''}`);
  }
  const outcomes: Record<string, number> = {};
  for (const list of results.values()) for (const result of list) outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
  for (const client of Object.values(clients)) client.destroy();
  return { broken, requests: issued.length, deliveries, faultsInjected, outcomes };
}

async function waitSettled(aws: InMemoryAws, requestId: string): Promise<void> {
  for (let wait = 0; wait < 2_000; wait += 1) {
    const item = aws.items.get(JSON.stringify({ S: requestKey(requestId) }));
    if (item !== undefined && unmarshall(item).status !== 'claimed') return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Three members, three route tables and the real handler on in-memory AWS; `beforeCall` sees every call first. */
export function createRaceWorld(beforeCall: NonNullable<ConstructorParameters<typeof InMemoryAws>[0]['beforeCall']>) {
  const instances = NODES.map((node) => ({
    instanceId: `i-0abc00000000000${node}`,
    eni: `eni-0abc00000000000${node}`,
    state: 'running',
    tags: { [MEMBER_TAG_KEY]: CLUSTER },
    sourceDestCheck: true,
    vipOnInterface: false,
  }));
  const aws = new InMemoryAws({
    vpcId: 'vpc-0abc0000000000001',
    vpcCidr: '198.18.0.0/16',
    routeTableIds: ROUTE_TABLES,
    instances,
    accountId: ACCOUNT,
    roleName: ROLE,
    beforeCall,
    // Calls here answer at once and a write lands at once or never: waiting out the standard
    // backoff (seconds for a throttle) or the window a real write may land in (5 s) would only
    // put every invocation to sleep; the turns of the schedule are what interleave them.
    retryDelayMs: RETRY_DELAY_MS,
  });
  const world = worldOf(aws, instances);
  const config = parseControllerConfig({ ...world.config, ssmWaitSeconds: 5 });
  const clients = aws.clients();
  const stsEndpoint = new URL('https://sts.us-east-1.amazonaws.com');
  const handler = createSwitchoverHandler({
    config,
    accountId: ACCOUNT,
    region: 'us-east-1',
    stsEndpoint,
    ports: awsSwitchoverPorts(
      { ...clients, stsHttp: aws.stsHttp() },
      { ledgerTable: world.ledgerTable, busName: world.busName, stsEndpoint, unansweredWriteLandsWithinMs: UNANSWERED_WRITE_LANDS_WITHIN_MS },
    ),
    logger: new Logger({ logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'PgpoolVipRaces', serviceName: 'pgpool-vip' }),
  });
  return { aws, handler, world, instances, clients, stsEndpoint, vipCidr: VIP_CIDR };
}

function worldOf(aws: InMemoryAws, instances: Array<{ instanceId: string; eni: string }>): World {
  return {
    region: 'us-east-1',
    accountId: ACCOUNT,
    vpcId: 'vpc-0abc0000000000001',
    appSubnetId: 'subnet-0abc000000000001',
    routeTableIds: ROUTE_TABLES,
    instances: instances.map((instance, index) => ({
      name: `pgpool-${index + 1}`,
      instanceId: instance.instanceId,
      eni: instance.eni,
      mac: `0a:00:c6:12:00:0${index + 1}`,
      privateIp: `198.18.${index + 1}.10`,
      subnetId: `subnet-0abc00000000000${index + 2}`,
      availabilityZone: 'us-east-1a',
      credentials: aws.credentialsOf(instance.instanceId),
    })),
    busName: 'race-bus',
    requestQueueUrl: 'unused',
    outcomeQueueUrl: 'unused',
    ledgerTable: 'race-ledger',
    documentName: 'pgpool-vip-address',
    roleName: ROLE,
    instanceProfile: ROLE,
    config: {
      clusters: [{ name: CLUSTER, vip: VIP, routeTables: ROUTE_TABLES, allowedRoles: [ROLE], interface: 'eth0', ssmDocument: 'pgpool-vip-address' }],
    },
  };
}
