import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigurationError } from '../lib/errors.ts';
import { vipKey } from '../lib/ledger-records.ts';
import { parseControllerConfig, type ClusterConfig, type ControllerConfig } from '../lib/cluster-config.ts';

/**
 * Package-time view of `config/<stage>.json`: the controller's configuration as its
 * PGPOOL_VIP_CONFIG variable, and the IAM statements whose resources or conditions depend on
 * it (route tables, member tags, documents). serverless.yml reads this through
 * `scripts/stage-config.cjs`, so a bad file fails `serverless package` before anything is built.
 */

/** Where and for what the configuration is read. */
export interface StageSettings {
  stage: string;
  /** Absolute or working-directory-relative path of the JSON file. */
  configFile: string;
  /** Name of the SSM document this stage deploys; clusters without `ssmDocument` use it. */
  ssmDocumentName: string;
  /** The stage's `switchoverProvisionedConcurrency` and `switchoverReservedConcurrency` params, as resolved. */
  concurrency?: { provisioned: unknown; reserved: unknown };
}

/** A CloudFormation value: a literal or an intrinsic function object. */
type CfnValue = string | { 'Fn::Sub': string };

export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow' | 'Deny';
  Action: string[];
  Resource: CfnValue[];
  Condition?: Record<string, Record<string, string[]>>;
}

export interface StageConfig {
  stage: string;
  /** The validated configuration with defaults filled: what the controller and the IAM agree on. */
  controllerConfigJson: string;
  clusterNames: string[];
  /** The switchover waits for SSM on the new holder; it gets that long plus room for the AWS calls around it. */
  switchoverTimeoutSeconds: number;
  /** Delivery retries stop once a request's proof would be too old to be accepted anyway. */
  requestMaximumEventAgeSeconds: number;
  /** Switchover environments kept initialised (0: none, every failover after a quiet spell meets a cold start). */
  switchoverProvisionedConcurrency: number;
  iam: {
    switchoverStatements: PolicyStatement[];
    reconcileStatements: PolicyStatement[];
    /**
     * Ledger keys a node may GetItem (`dynamodb:LeadingKeys`): request records, and the holder
     * records of this stage's clusters only. Request records are keyed by a random request id
     * alone, so no key prefix can narrow them to one cluster.
     */
    nodeLedgerKeys: string[];
  };
}

/** Lambda allows 4 KB for all environment variables of a function together. */
export const CONFIG_ENV_LIMIT_BYTES = 3072;
/** Lambda's timeout for the switchover: the SSM wait plus this margin for everything else. */
export const SWITCHOVER_TIMEOUT_MARGIN_SECONDS = 25;
const EVENTBRIDGE_MIN_EVENT_AGE_SECONDS = 60;

const ARN_PREFIX = 'arn:${AWS::Partition}';

function routeTableArn(routeTableId: string): CfnValue {
  return { 'Fn::Sub': `${ARN_PREFIX}:ec2:\${AWS::Region}:\${AWS::AccountId}:route-table/${routeTableId}` };
}

function documentArn(documentName: string): CfnValue {
  return { 'Fn::Sub': `${ARN_PREFIX}:ssm:\${AWS::Region}:\${AWS::AccountId}:document/${documentName}` };
}

const ANY_INSTANCE: CfnValue = { 'Fn::Sub': `${ARN_PREFIX}:ec2:\${AWS::Region}:\${AWS::AccountId}:instance/*` };
const ANY_NETWORK_INTERFACE: CfnValue = {
  'Fn::Sub': `${ARN_PREFIX}:ec2:\${AWS::Region}:\${AWS::AccountId}:network-interface/*`,
};

const unique = <T>(values: T[]): T[] => [...new Set(values)];

/**
 * The route is never deleted (a late down must not take the VIP from the new holder): an explicit deny keeps it so even if a broader policy
 * is ever attached to a controller role. It also keeps each cluster-scope policy non-empty.
 */
export const NEVER_DELETE_ROUTES: PolicyStatement = {
  Sid: 'NeverDeleteRoutes',
  Effect: 'Deny',
  Action: ['ec2:DeleteRoute'],
  Resource: ['*'],
};

/** GetCommandInvocation has no resource-level permissions: "*" is its only valid resource. */
const READ_COMMAND_RESULTS: PolicyStatement = {
  Sid: 'ReadCommandResults',
  Effect: 'Allow',
  Action: ['ssm:GetCommandInvocation'],
  Resource: ['*'],
};

/** Member tag values grouped by tag key: one condition per key, because keys in one condition are ANDed. */
function memberTagsByKey(clusters: ClusterConfig[]): Map<string, string[]> {
  const byKey = new Map<string, string[]>();
  for (const { memberTag } of clusters) {
    byKey.set(memberTag.key, unique([...(byKey.get(memberTag.key) ?? []), memberTag.value]));
  }
  return byKey;
}

function routeWriteStatement(sid: string, clusters: ClusterConfig[]): PolicyStatement {
  return {
    Sid: sid,
    Effect: 'Allow',
    Action: ['ec2:CreateRoute', 'ec2:ReplaceRoute'],
    Resource: unique(clusters.flatMap((cluster) => cluster.routeTables)).map(routeTableArn),
  };
}

/** SendCommand is authorized on the document and on each target: the two need separate statements. */
function sendCommandStatements(clusters: ClusterConfig[]): PolicyStatement[] {
  const onDocuments: PolicyStatement = {
    Sid: 'RunAddressDocument',
    Effect: 'Allow',
    Action: ['ssm:SendCommand'],
    Resource: unique(clusters.map((cluster) => cluster.ssmDocument)).map(documentArn),
  };
  const onMembers = [...memberTagsByKey(clusters)].map(
    ([key, values], index): PolicyStatement => ({
      Sid: `RunOnMemberInstances${index}`,
      Effect: 'Allow',
      Action: ['ssm:SendCommand'],
      Resource: [ANY_INSTANCE],
      Condition: { StringEquals: { [`ssm:resourceTag/${key}`]: values } },
    }),
  );
  return [onDocuments, ...onMembers];
}

/**
 * The tag condition is evaluated on the network interface itself (ENIs do not inherit the
 * instance's tags), so member ENIs must carry the member tag too: docs/deploy.md says how.
 */
function sourceDestCheckStatements(clusters: ClusterConfig[]): PolicyStatement[] {
  const managed = clusters.filter((cluster) => cluster.manageSourceDestCheck);
  return [...memberTagsByKey(managed)].map(([key, values], index) => ({
    Sid: `DisableSourceDestCheckOnMembers${index}`,
    Effect: 'Allow',
    Action: ['ec2:ModifyNetworkInterfaceAttribute'],
    Resource: [ANY_NETWORK_INTERFACE],
    Condition: { StringEquals: { [`aws:ResourceTag/${key}`]: values } },
  }));
}

/** Builds the package-time view from an already validated configuration. */
/**
 * The stage's provisioned concurrency for the switchover function: a whole number, at most the
 * reserved concurrency (AWS refuses more, and the reserve caps every invocation anyway). Params
 * given on the command line arrive as text.
 */
export function provisionedConcurrencyOf(provisioned: unknown, reserved: unknown): number {
  const reserve = z.coerce.number().int().min(1).safeParse(reserved);
  if (!reserve.success) throw new ConfigurationError(`param switchoverReservedConcurrency must be a whole number of at least 1, not ${JSON.stringify(reserved)}`);
  const count = z.coerce.number().int().min(0).max(reserve.data).safeParse(provisioned === '' ? undefined : provisioned);
  if (!count.success || typeof provisioned === 'boolean') {
    throw new ConfigurationError(
      `param switchoverProvisionedConcurrency must be a whole number from 0 to ${reserve.data} (switchoverReservedConcurrency), not ${JSON.stringify(provisioned)}`,
    );
  }
  return count.data;
}

export function buildStageConfig(
  config: ControllerConfig,
  stage: string,
  concurrency: { provisioned: unknown; reserved: unknown } = { provisioned: 0, reserved: 1 },
): StageConfig {
  const controllerConfigJson = JSON.stringify(config);
  const size = Buffer.byteLength(controllerConfigJson, 'utf8');
  if (size > CONFIG_ENV_LIMIT_BYTES) {
    throw new ConfigurationError(
      `cluster configuration is ${size} bytes once validated; Lambda environment variables hold at most ` +
        `${CONFIG_ENV_LIMIT_BYTES} bytes of it: split the clusters over several stages`,
    );
  }
  const healed = config.clusters.filter((cluster) => cluster.heal);
  const checked = config.clusters.filter((cluster) => cluster.checkInterface);
  return {
    stage,
    controllerConfigJson,
    clusterNames: config.clusters.map((cluster) => cluster.name),
    switchoverTimeoutSeconds: config.ssmWaitSeconds + SWITCHOVER_TIMEOUT_MARGIN_SECONDS,
    requestMaximumEventAgeSeconds: Math.max(EVENTBRIDGE_MIN_EVENT_AGE_SECONDS, config.proofFreshnessSeconds),
    switchoverProvisionedConcurrency: provisionedConcurrencyOf(concurrency.provisioned, concurrency.reserved),
    iam: {
      switchoverStatements: [
        routeWriteStatement('PointVipRoutes', config.clusters),
        ...sendCommandStatements(config.clusters),
        ...sourceDestCheckStatements(config.clusters),
        NEVER_DELETE_ROUTES,
      ],
      reconcileStatements: [
        ...(checked.length > 0 ? [...sendCommandStatements(checked), READ_COMMAND_RESULTS] : []),
        ...(healed.length > 0 ? [routeWriteStatement('HealVipRoutes', healed)] : []),
        NEVER_DELETE_ROUTES,
      ],
      nodeLedgerKeys: ['request#*', ...config.clusters.map((cluster) => vipKey(cluster.name))],
    },
  };
}

/** Reads and validates the stage's file; throws ConfigurationError naming the file and the field. */
export function loadStageConfig(settings: StageSettings): StageConfig {
  let text: string;
  try {
    text = readFileSync(settings.configFile, 'utf8');
  } catch (error) {
    throw new ConfigurationError(
      `${settings.configFile}: cannot read the cluster configuration of stage "${settings.stage}" ` +
        `(${(error as NodeJS.ErrnoException).code ?? String(error)}); copy config/example.json and edit it`,
      { cause: error },
    );
  }
  try {
    const config = parseControllerConfig(text, { ssmDocument: settings.ssmDocumentName });
    return buildStageConfig(config, settings.stage, settings.concurrency);
  } catch (error) {
    if (error instanceof ConfigurationError) {
      throw new ConfigurationError(`${settings.configFile}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}
