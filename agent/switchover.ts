import type { SwitchoverAction } from '../lib/contract.ts';
import type { AgentConfig } from './config.ts';
import { resolveCredentials } from './credentials.ts';
import type { Deadline } from './deadline.ts';
import { EXIT, SwitchoverFailedError, UsageError, oneLine, type ExitCode } from './errors.ts';
import { interfaceHasAddress } from './host-interface.ts';
import { readNodeIdentity } from './identity.ts';
import { readIncarnation } from './incarnation.ts';
import { InstanceMetadata, imdsEndpointFor } from './imds.ts';
import { applyLocalAddress, planLocalAddress, readLocalHost, refusedBeforeRoute, removeLocalAddress, type LocalAddress } from './local-address.ts';
import type { AgentIo } from './io.ts';
import type { SettledRecord } from './outcome.ts';
import { nextPollMs } from './poll-schedule.ts';
import { Progress } from './progress.ts';
import { answeredAsDryRun, dryRunDocument, dryRunLines, type DryRunSubject } from './dry-run-report.ts';
import { checkedInterface, interfaceMacFor } from './preflight.ts';

/** How often the same request may be sent when the controller reports it failed. */
const MAX_SENDS = 3;
/** Below this much time left, a resend could not finish: report the failure instead. */
const RESEND_MIN_REMAINING_MS = 5000;

export interface SwitchoverCommand {
  action: SwitchoverAction;
  vip: string;
  iface: string;
  config: AgentConfig;
  configPath: string;
  skipInterfaceCheck: boolean;
  /** Ask for the controller's plan only; print it (as JSON with `json`), change nothing. */
  dryRun?: boolean;
  json?: boolean;
}

/**
 * `up` / `down`: who am I -> signed request -> bus -> the controller's outcome -> the
 * interface in the state pgpool expects. Exit 0 means the VIP is (up) or is not (down) on
 * the interface, because pgpool pings the VIP right after a successful `up`.
 */
export async function runSwitchover(command: SwitchoverCommand, io: AgentIo, deadline: Deadline): Promise<ExitCode> {
  const { action, vip, iface, config } = command;
  if (vip !== config.vip) {
    throw new UsageError(`VIP ${vip} is not the VIP of cluster ${config.cluster} (${config.vip} in ${command.configPath}); check delegate_ip in pgpool.conf (delegate_IP up to pgpool 4.3)`);
  }
  await checkedInterface(iface);
  const mac = await interfaceMacFor(iface, config, io.env);

  const imds = new InstanceMetadata(imdsEndpointFor(io.env), deadline);
  const progress = new Progress(io, () => deadline.remainingMs());
  // Identity and credentials share one IMDS session and are read at the same time. When both
  // fail (the session's token did), IMDS's own answer is the reason, not the credentials' wrapping.
  const reading = Promise.allSettled([
    progress.during(
      () => `instance metadata (IMDSv2 at ${imds.endpoint})`,
      () => readNodeIdentity(imds, { iface, mac, ...(config.region === undefined ? {} : { region: config.region }) }),
    ),
    progress.during(() => 'the instance-profile credentials from IMDS', () => resolveCredentials(deadline, imds)),
  ]);
  // The rest runs while IMDS answers, once a turn of the event loop has sent its first request:
  // which pgpool runs the agent, the local fast path (the request says whether it put the VIP
  // there), and loading the code that signs and sends.
  await nextTurn();
  const incarnation = readIncarnation();
  const addingLocally = addLocally(command, incarnation?.escalation === null);
  const [[identityRead, credentialsRead], { AwsJsonClient, DYNAMODB, EVENTBRIDGE, buildSignedRequest, publishRequest, requestDigest }] = await Promise.all([
    reading,
    loadSigning(),
  ]);
  if (identityRead.status === 'rejected') throw identityRead.reason;
  if (credentialsRead.status === 'rejected') throw credentialsRead.reason;
  const [identity, credentials] = [identityRead.value, credentialsRead.value];
  const dryRun = command.dryRun === true;
  const local = await addingLocally;
  if (local.note !== null) io.stderr(`pgpool-vip: ${local.note}`);
  const detail = await buildSignedRequest({
    action,
    cluster: config.cluster,
    vip,
    iface,
    identity,
    credentials,
    incarnation,
    localAddress: local.onInterface,
    dryRun,
    env: io.env,
  });
  const takeBack = async (): Promise<void> => {
    const line = await removeLocalAddress(local, vip, iface);
    if (line !== null) io.stderr(`pgpool-vip: ${line}`);
  };

  const clientOptions = { region: identity.region, credentials, env: io.env };
  const eventbridge = new AwsJsonClient(EVENTBRIDGE, clientOptions);
  const dynamodb = new AwsJsonClient(DYNAMODB, clientOptions);
  const checksInterface = !command.skipInterfaceCheck && config.checkInterface;
  // An `up` may end as soon as the controller has written every route for it and the VIP is on
  // the interface: what pgpool checks next (a ping of the VIP, answered locally).
  const landed = action === 'up' && !dryRun && checksInterface ? () => interfaceHasAddress(iface, vip) : undefined;
  try {
    let outcome: SettledRecord | undefined;
    for (let attempt = 1; ; attempt += 1) {
      await progress
        .during(() => `PutEvents to bus ${config.bus}`, () => publishRequest({ client: eventbridge, bus: config.bus, detail, deadline }))
        // Refused by EventBridge before any controller saw it: nothing will point the route here.
        .catch(async (error: unknown) => {
          if (attempt === 1 && error instanceof SwitchoverFailedError) await takeBack();
          throw error;
        });
      // Loaded once the request is on its way: the ledger's record schemas are built while the
      // controller works, not before the request leaves.
      const { waitForOutcome } = await import('./outcome.ts');
      let seen = 'no record yet';
      const afterAttempt = outcome?.attempts;
      outcome = await progress.during(
        () => `the controller's outcome of request ${detail.requestId} (ledger: ${seen})`,
        () =>
          waitForOutcome({
            client: dynamodb,
            table: config.ledgerTable,
            requestId: detail.requestId,
            digest: requestDigest(detail),
            deadline,
            pollIntervalMs: config.pollIntervalMs,
            afterAttempt,
            onSeen: (last) => (seen = last),
            ...(landed === undefined ? {} : { landed }),
          }),
      );
      // pgpool never re-runs a failed if_up_cmd: a failure that may be passing (throttling, an SSM
      // timeout) gets the same request again, which the controller takes up where it failed.
      if (outcome.status !== 'failed' || attempt >= MAX_SENDS || deadline.remainingMs() < RESEND_MIN_REMAINING_MS) break;
      io.stderr(`pgpool-vip: ${oneLine(refusal(outcome, detail.requestId).message)}; sending the request again (${attempt + 1} of ${MAX_SENDS})`);
    }
    if (dryRun) return reportDryRun(outcome, { action, vip, iface, instanceId: identity.instanceId, eni: identity.eni, requestId: detail.requestId }, command.json === true, io);
    const where = `${vip} on ${iface} (${identity.instanceId}, ${identity.eni})`;
    if (outcome.status === 'routed') {
      io.stdout(`pgpool-vip: ${action} ${where}: routed, request ${detail.requestId}; every route table points here and ${vip} is on ${iface} (the controller records the outcome)`);
      return EXIT.done;
    }
    if (outcome.status !== 'applied' && outcome.status !== 'noop') {
      if (refusedBeforeRoute(outcome)) await takeBack();
      throw refusal(outcome, detail.requestId);
    }

    if (!checksInterface) {
      const why = command.skipInterfaceCheck ? '--no-interface-check' : `checkInterface false in ${command.configPath}`;
      io.stdout(`pgpool-vip: ${action} ${where}: ${outcome.status}, request ${detail.requestId}; interface check skipped (${why})`);
      return EXIT.done;
    }
    const answered = outcome.status;
    await progress.during(
      () => `${vip} to ${action === 'up' ? 'appear on' : 'leave'} ${iface} (the controller answered ${answered}; SSM Run Command changes the interface)`,
      () => waitForInterface(action, vip, iface, deadline, config.pollIntervalMs, detail.requestId),
    );
    io.stdout(`pgpool-vip: ${action} ${where}: ${outcome.status}, request ${detail.requestId}`);
    return EXIT.done;
  } finally {
    eventbridge.destroy();
    dynamodb.destroy();
  }
}

/** Lets the event loop turn once: requests started before are on their way when it resolves. */
async function nextTurn(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * The code that signs the request and talks to EventBridge and DynamoDB (node:crypto, SigV4, the
 * request's schema), loaded while IMDS answers instead of before its first request.
 */
async function loadSigning() {
  const [request, awsJson, publish, digest] = await Promise.all([import('./request.ts'), import('./aws-json.ts'), import('./publish.ts'), import('../lib/digest.ts')]);
  const { AwsJsonClient, DYNAMODB, EVENTBRIDGE } = awsJson;
  return { AwsJsonClient, DYNAMODB, EVENTBRIDGE, buildSignedRequest: request.buildSignedRequest, publishRequest: publish.publishRequest, requestDigest: digest.requestDigest };
}

/** Plans and carries out the local fast path (a no-op unless configured, for an escalation's `up`). */
async function addLocally(command: SwitchoverCommand, reacquire: boolean): Promise<LocalAddress> {
  const { action, vip, iface, config } = command;
  // A dry run changes nothing, on this node's interface either.
  const configured = config.localAddress && command.dryRun !== true;
  const enabled = configured && action === 'up' && !reacquire;
  const host = enabled ? await readLocalHost(vip, iface) : { netAdmin: false, ipPath: null, present: false };
  return await applyLocalAddress(planLocalAddress({ enabled: configured, action, reacquire, host }), vip, iface);
}

/**
 * A dry run's answer: the plan on stdout (lines, or one JSON document); exit 0 when the real run
 * would be applied or a noop, 1 with the reason when it would be refused, stale or failed.
 */
function reportDryRun(outcome: SettledRecord, subject: DryRunSubject, json: boolean, io: AgentIo): ExitCode {
  const done = outcome.status === 'applied' || outcome.status === 'noop';
  if (done && !answeredAsDryRun(outcome)) {
    // Only a controller that ignores the flag could answer so; it may have acted on the request.
    throw new SwitchoverFailedError(
      `the controller answered request ${subject.requestId} ${outcome.status} without marking it a dry run: it may have moved the VIP; check with pgpool-vip status`,
    );
  }
  const document = dryRunDocument(subject, outcome);
  if (json) io.stdout(JSON.stringify(document, null, 2));
  else for (const line of dryRunLines(document)) io.stdout(line);
  if (done) return EXIT.done;
  throw new SwitchoverFailedError(`dry run: ${refusal(outcome, subject.requestId).message}`);
}

function refusal(outcome: SettledRecord, requestId: string): SwitchoverFailedError {
  const reason = outcome.reason ?? 'no reason recorded';
  const step = outcome.status === 'failed' && outcome.failedStep ? ` at ${outcome.failedStep}` : '';
  return new SwitchoverFailedError(`controller ${outcome.status} request ${requestId}${step}: ${reason}`);
}

/** The controller changes the interface through SSM; exit 0 only once the kernel shows it. */
async function waitForInterface(
  action: SwitchoverAction,
  vip: string,
  iface: string,
  deadline: Deadline,
  pollIntervalMs: number,
  requestId: string,
): Promise<void> {
  const wanted = action === 'up';
  const started = Date.now();
  let step = 0;
  for (;;) {
    if (interfaceHasAddress(iface, vip) === wanted) return;
    step = nextPollMs(Date.now() - started, step, pollIntervalMs);
    if (!(await deadline.sleep(step))) {
      throw deadline.reached(
        `waiting for ${vip} to ${wanted ? 'appear on' : 'leave'} ${iface}; the controller answered request ${requestId} (routes done); likely cause: the SSM agent on this node is not running or not registered (pgpool-vip doctor checks it), or the controller's clusters[].interface is not ${iface}`,
      );
    }
  }
}
