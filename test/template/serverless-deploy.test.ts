import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CloudFormationClient,
  DescribeStackResourcesCommand,
  DescribeStacksCommand,
  type Stack,
  type StackResource,
} from '@aws-sdk/client-cloudformation';
import { DeleteTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListBucketsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { motoClientConfig } from '../../local/aws-clients.ts';
import { MOTO_INSTALL_HINT } from '../../local/moto-server.ts';
import { deployerPolicy, stageNames } from '../../scripts/deployer-policy.ts';
import { sharedMoto } from '../kit/moto.ts';
import {
  allows,
  allowsAction,
  CALLS_NEEDING_NO_PERMISSION,
  iamActionOf,
  passedRoles,
  TYPE_PERMISSIONS,
  type PolicyDocument,
  type StackContext,
} from './deployer-permissions.ts';
import { MOTO_DEPENDENT_DROPS, MOTO_UNSUPPORTED_TYPES } from '../../local/moto-stack.ts';
import { finished } from '../../local/child-output.ts';
import { packagedService, REPO_ROOT, SERVERLESS_SCHEMA_CACHE, serverlessCommand, TEMPLATE_FILE, type CfnTemplate } from '../../local/packaged-service.ts';
import { requireTool } from './template-kit.ts';

// `serverless deploy` and `serverless remove` themselves, pointed at moto with the SDK's standard
// AWS_ENDPOINT_URL: the framework creates its stack and deployment bucket, uploads, runs its
// change sets and waits, as it does against AWS. It deploys the dev stage's package, which the run
// packages once (local/packaged-service.ts); no other file of the run's moto uses the stage's
// own names (worlds put their prefix in front of every name).
const STAGE = 'dev';
const STACK_NAME = `pgpool-vip-${STAGE}`;
const REGION = 'us-east-1';
const ACCOUNT = '123456789012'; // moto's account
const LOOPBACK_ONLY = join(REPO_ROOT, 'test/support/loopback-only.mjs');
const RECORD_CALLS = join(REPO_ROOT, 'test/support/record-sdk-calls.mjs');

let endpoint: string;
/** A copy of the cached package, which this file changes (leaveOutWhatMotoCannotResolve). */
let packageDir: string;
let packaged: CfnTemplate;
let home: string;
let callsFile: string;
let cloudformation: CloudFormationClient;
let s3: S3Client;
let dynamodb: DynamoDBClient;
let deploy: CliRun;
let stack: Stack | undefined;
let stackResources: StackResource[] = [];

interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The framework's CLI as an operator runs it, with fake keys, the endpoint variable and nothing else of this machine's environment. */
async function serverless(args: string[]): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    AWS_ACCESS_KEY_ID: 'moto-access-key',
    AWS_SECRET_ACCESS_KEY: 'moto-secret-key',
    AWS_REGION: REGION,
    AWS_ENDPOINT_URL: endpoint,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
    // The compiled configuration schema the other commands of the checkout keep (not in this HOME).
    SLS_SCHEMA_CACHE_BASE_DIR: SERVERLESS_SCHEMA_CACHE,
    // The framework polls change sets and stack events every 5 s by default; moto answers at once.
    SLS_AWS_MONITORING_FREQUENCY: '250',
    PGPOOL_VIP_CONFIG_FILE: join(REPO_ROOT, 'config/dev.json'),
    PGPOOL_VIP_SDK_CALLS_FILE: callsFile,
    NODE_OPTIONS: `--import=${LOOPBACK_ONLY} --import=${RECORD_CALLS}`,
  };
  const [command, argv] = serverlessCommand([...args, '--stage', STAGE]);
  const child = spawn(command, argv, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  return await finished(child);
}

function recordedCalls(): string[] {
  return existsSync(callsFile) ? readFileSync(callsFile, 'utf8').split('\n').filter((line) => line !== '') : [];
}

async function describeStack(): Promise<Stack | undefined> {
  try {
    return (await cloudformation.send(new DescribeStacksCommand({ StackName: STACK_NAME }))).Stacks?.[0];
  } catch (error) {
    if (error instanceof Error && error.message.includes('does not exist')) return undefined;
    throw error;
  }
}

/**
 * moto 5.2.1 has no CloudWatch alarm model: it skips alarms (as it skips every type in
 * MOTO_UNSUPPORTED_TYPES, with a warning), and then cannot resolve the dashboard's references to
 * the alarms' ARNs, which fails the whole change set. So the dashboard is left out of the state
 * file `deploy --package` reads; nothing else is changed.
 */
function leaveOutWhatMotoCannotResolve(dir: string): void {
  const file = join(dir, 'serverless-state.json');
  const state = JSON.parse(readFileSync(file, 'utf8')) as { service: { provider: { compiledCloudFormationTemplate: CfnTemplate } } };
  for (const logicalId of Object.keys(MOTO_DEPENDENT_DROPS)) delete state.service.provider.compiledCloudFormationTemplate.Resources[logicalId];
  writeFileSync(file, JSON.stringify(state));
}

beforeAll(async () => {
  requireTool('moto_server', MOTO_INSTALL_HINT);
  endpoint = sharedMoto().endpoint;
  home = mkdtempSync(join(tmpdir(), 'pgpool-vip-deployer-home-'));
  callsFile = join(home, 'sdk-calls.txt');
  cloudformation = new CloudFormationClient(motoClientConfig(endpoint));
  s3 = new S3Client({ ...motoClientConfig(endpoint), forcePathStyle: true });
  dynamodb = new DynamoDBClient(motoClientConfig(endpoint));

  packageDir = mkdtempSync(join(tmpdir(), 'pgpool-vip-deploy-package-'));
  cpSync((await packagedService(STAGE)).dir, packageDir, { recursive: true });
  packaged = JSON.parse(readFileSync(join(packageDir, TEMPLATE_FILE), 'utf8')) as CfnTemplate;
  leaveOutWhatMotoCannotResolve(packageDir);

  deploy = await serverless(['deploy', '--package', packageDir]);
  stack = await describeStack();
  if (stack !== undefined) stackResources = (await cloudformation.send(new DescribeStackResourcesCommand({ StackName: STACK_NAME }))).StackResources ?? [];
}, 240_000);

afterAll(async () => {
  if ((await describeStack().catch(() => undefined)) !== undefined) await serverless(['remove']);
  // The ledger is kept when the stack goes (DeletionPolicy: Retain); the shared moto should not keep it.
  await dynamodb?.send(new DeleteTableCommand({ TableName: stageNames(STAGE).ledger })).catch(() => undefined);
  cloudformation?.destroy();
  s3?.destroy();
  dynamodb?.destroy();
  if (packageDir !== undefined) rmSync(packageDir, { recursive: true, force: true });
  if (home !== undefined) rmSync(home, { recursive: true, force: true });
}, 120_000);

describe('Command: serverless deploy and serverless remove against moto (AWS_ENDPOINT_URL)', () => {
  it('deploys the packaged service and says so', () => {
    expect(deploy.stderr).not.toContain('loopback-only: refused');
    expect(deploy.status, `${deploy.stdout}\n${deploy.stderr}`).toBe(0);
    // The framework writes its progress and result lines to stderr.
    expect(deploy.stderr).toContain(`Service deployed to stack ${STACK_NAME}`);
  });

  it('leaves the stack complete, with every resource moto can create', () => {
    const expected = Object.entries(packaged.Resources)
      .filter(([logicalId, resource]) => MOTO_UNSUPPORTED_TYPES[resource.Type] === undefined && MOTO_DEPENDENT_DROPS[logicalId] === undefined)
      .map(([logicalId]) => logicalId);

    // The framework first creates the stack with its deployment bucket, then updates it to the service.
    expect(stack?.StackStatus, stack?.StackStatusReason).toBe('UPDATE_COMPLETE');
    // moto lists each resource it skipped as an entry without a logical id.
    const created = stackResources.filter((resource) => resource.LogicalResourceId !== undefined);
    expect(created.map((resource) => resource.LogicalResourceId).sort()).toEqual(expected.sort());
    expect(created.every((resource) => resource.ResourceStatus?.endsWith('_COMPLETE'))).toBe(true);
  });

  it('uploads the function zips, the template and the state to the stack\'s own deployment bucket', async () => {
    const bucket = stackResources.find((created) => created.LogicalResourceId === 'ServerlessDeploymentBucket')?.PhysicalResourceId ?? '';
    const { Contents } = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (Contents ?? []).map((object) => object.Key ?? '');
    const zip = keys.find((key) => key.endsWith('/switchover.zip')) ?? '';
    const uploaded = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: zip }))).Body?.transformToByteArray();

    expect(bucket).toMatch(new RegExp(`^${STACK_NAME}-serverlessdeploymentbucket-`));
    expect(keys.map((key) => key.slice(key.lastIndexOf('/') + 1)).sort()).toEqual(
      ['compiled-cloudformation-template.json', 'reconcile.zip', 'serverless-state.json', 'switchover.zip'].sort(),
    );
    expect(keys.every((key) => key.startsWith(`serverless/pgpool-vip/${STAGE}/`))).toBe(true);
    expect(Buffer.from(uploaded ?? []).equals(readFileSync(join(packageDir, 'switchover.zip')))).toBe(true);
  });

  it('removes the stack, its functions and its bucket, and keeps the ledger table', async () => {
    const bucket = stackResources.find((created) => created.LogicalResourceId === 'ServerlessDeploymentBucket')?.PhysicalResourceId;

    const removed = await serverless(['remove']);

    expect(removed.status, `${removed.stdout}\n${removed.stderr}`).toBe(0);
    expect(removed.stderr).toContain('Service pgpool-vip has been successfully removed');
    expect(await describeStack()).toBeUndefined();
    const { Buckets } = await s3.send(new ListBucketsCommand({}));
    expect((Buckets ?? []).map((found) => found.Name)).not.toContain(bucket);
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: stageNames(STAGE).ledger }));
    expect(Table?.TableStatus).toBe('ACTIVE');
  }, 120_000);

  it('sends nothing off this machine: a connection elsewhere is refused before it is made', () => {
    const probe = spawnSync(process.execPath, ['--import', LOOPBACK_ONLY, '-e', "require('node:net').connect(443, '198.18.0.1')"], { encoding: 'utf8' });

    expect(probe.status).not.toBe(0);
    expect(probe.stderr).toContain('loopback-only: refused a connection to 198.18.0.1');
  });
});

describe('Deployer policy: infra/deployer-policy.json', () => {
  const policyFor = (stage: string): PolicyDocument => JSON.parse(deployerPolicy({ stage, region: REGION, account: ACCOUNT })) as PolicyDocument;
  const context = (): StackContext => ({ stackName: STACK_NAME, region: REGION, account: ACCOUNT, template: packaged });

  it('grants each resource type the packaged template creates what CloudFormation needs for it, on that resource', () => {
    const policy = policyFor(STAGE);
    const types = new Set(Object.values(packaged.Resources).map((resource) => resource.Type));

    expect([...types].filter((type) => TYPE_PERMISSIONS[type] === undefined)).toEqual([]);
    const missing = Object.entries(packaged.Resources).flatMap(([logicalId, resource]) => {
      const permissions = TYPE_PERMISSIONS[resource.Type];
      if (permissions === undefined) return [];
      const arn = permissions.arn(context(), logicalId, resource);
      return permissions.actions.filter((action) => !allows(policy, action, arn)).map((action) => `${logicalId}: ${action} on ${arn}`);
    });
    expect(missing).toEqual([]);
  });

  it('is checked against the actions of the right resources: another stage\'s stack, table or bus is not granted', () => {
    const policy = policyFor(STAGE);
    const other = stageNames('other');

    expect(allows(policy, 'cloudformation:ExecuteChangeSet', `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${STACK_NAME}/id`)).toBe(true);
    expect(allows(policy, 'cloudformation:ExecuteChangeSet', `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/pgpool-vip-other/id`)).toBe(false);
    expect(allows(policy, 'dynamodb:UpdateTable', `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${other.ledger}`)).toBe(false);
    expect(allows(policy, 'events:DeleteEventBus', `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/${other.bus}`)).toBe(false);
    expect(allows(policy, 'lambda:UpdateFunctionCode', `arn:aws:lambda:${REGION}:${ACCOUNT}:function:pgpool-vip-other-switchover`)).toBe(false);
  });

  it('uses no property that would need permissions beyond it (KMS keys, VPC access, layers, ...)', () => {
    const beyond = Object.entries(packaged.Resources).flatMap(([logicalId, resource]) =>
      (TYPE_PERMISSIONS[resource.Type]?.needsMore ?? []).filter((property) => resource.Properties?.[property] !== undefined).map((property) => `${logicalId}.${property}`),
    );

    expect(beyond).toEqual([]);
  });

  it('lets CloudFormation pass the stack\'s roles, and no other', () => {
    const policy = policyFor(STAGE);

    expect(passedRoles(context()).filter((role) => !allows(policy, 'iam:PassRole', role))).toEqual([]);
    expect(allows(policy, 'iam:PassRole', `arn:aws:iam::${ACCOUNT}:role/admin`)).toBe(false);
  });

  it('allows every call serverless deploy and remove made themselves against moto', () => {
    const policy = policyFor(STAGE);
    const calls = [...new Set(recordedCalls())].sort();

    expect(calls).toContain('CloudFormation ExecuteChangeSet');
    expect(calls).toContain('S3 PutObject');
    expect(calls).toContain('CloudFormation DeleteStack');
    const denied = calls.filter((call) => CALLS_NEEDING_NO_PERMISSION[call] === undefined && !allowsAction(policy, iamActionOf(call)));
    expect(denied).toEqual([]);
  });

  it('names no wildcard action, never deletes the ledger, and uses Resource "*" only where IAM has no resource-level permission', () => {
    const policy = policyFor('prod');
    const actions = policy.Statement.flatMap((statement) => (Array.isArray(statement.Action) ? statement.Action : [statement.Action]));
    const anyResource = policy.Statement.filter((statement) => (Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource]).includes('*')).flatMap(
      (statement) => (Array.isArray(statement.Action) ? statement.Action : [statement.Action]),
    );

    expect(actions.filter((action) => action.includes('*'))).toEqual([]);
    expect(actions).not.toContain('dynamodb:DeleteTable');
    expect(anyResource.sort()).toEqual(
      ['cloudformation:ValidateTemplate', 'logs:DeleteQueryDefinition', 'logs:DescribeLogGroups', 'logs:DescribeQueryDefinitions', 'logs:PutQueryDefinition'].sort(),
    );
    expect(allows(policy, 'events:PutRule', `arn:aws:events:${REGION}:${ACCOUNT}:rule/pgpool-vip/pgpool-vip-prod-switchover-requests`)).toBe(true);
    expect(allows(policy, 'dynamodb:UpdateTable', `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/pgpool-vip-ledger`)).toBe(true);
  });
});
