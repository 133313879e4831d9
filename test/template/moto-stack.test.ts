import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStackResourcesCommand,
  DescribeStacksCommand,
  type Stack,
} from '@aws-sdk/client-cloudformation';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { DescribeEventBusCommand, ListRulesCommand, ListTargetsByRuleCommand } from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DescribeDocumentCommand } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyClients, motoClientConfig, motoClients, type AwsClients } from '../../local/aws-clients.ts';
import { MOTO_INSTALL_HINT } from '../../local/moto-server.ts';
import { artifactKeys, smokeStackOf, type SmokeStack } from '../../local/moto-stack.ts';
import type { CfnTemplate } from '../../local/packaged-service.ts';
import { accountOfItsOwn, sharedMoto } from '../kit/moto.ts';
import { packageTemplate, requireTool } from './template-kit.ts';

const STACK_NAME = 'pgpool-vip-dev';
const ARTIFACT_BUCKET = 'pgpool-vip-smoke-artifacts';

/**
 * The dev stage's stack, in an account of its own in the run's moto: serverless-deploy.test.ts
 * deploys the same stage, with the same names, into moto's default account meanwhile.
 */
const ACCOUNT = '210987654321';
let clients: AwsClients;
let cloudformation: CloudFormationClient;
let s3: S3Client;
let packagedDir: string;
let packaged: CfnTemplate;
let smoke: SmokeStack;
let stack: Stack | undefined;

async function settledStack(): Promise<Stack | undefined> {
  for (let attempt = 0; attempt < 120; attempt += 1) {
    const { Stacks } = await cloudformation.send(new DescribeStacksCommand({ StackName: STACK_NAME }));
    const current = Stacks?.[0];
    if (current?.StackStatus !== undefined && !current.StackStatus.endsWith('_IN_PROGRESS')) return current;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return undefined;
}

beforeAll(async () => {
  requireTool('moto_server', MOTO_INSTALL_HINT);
  ({ template: packaged, dir: packagedDir } = await packageTemplate('dev'));
  const { endpoint } = sharedMoto();
  const credentials = await accountOfItsOwn(endpoint, ACCOUNT, 'pgpool-vip-moto-stack');
  clients = motoClients(endpoint, credentials);
  cloudformation = new CloudFormationClient(motoClientConfig(endpoint, credentials));
  s3 = new S3Client({ ...motoClientConfig(endpoint, credentials), forcePathStyle: true });

  // The function zips go where the template's S3 keys say, in a bucket that exists before the stack.
  await s3.send(new CreateBucketCommand({ Bucket: ARTIFACT_BUCKET }));
  for (const [zip, key] of artifactKeys(packaged)) {
    await s3.send(new PutObjectCommand({ Bucket: ARTIFACT_BUCKET, Key: key, Body: readFileSync(join(packagedDir, zip)) }));
  }
  smoke = smokeStackOf(packaged, ARTIFACT_BUCKET);
  await cloudformation.send(
    new CreateStackCommand({
      StackName: STACK_NAME,
      TemplateBody: JSON.stringify(smoke.template),
      Capabilities: ['CAPABILITY_IAM', 'CAPABILITY_NAMED_IAM'],
    }),
  );
  stack = await settledStack();
});

afterAll(() => {
  cloudformation?.destroy();
  s3?.destroy();
  if (clients !== undefined) destroyClients(clients);
});

describe('Template: the packaged stack in moto CloudFormation', () => {
  it('drops only the resource types moto cannot create, each with a reason', () => {
    const droppedTypes = new Set(Object.keys(smoke.dropped).map((logicalId) => packaged.Resources[logicalId]?.Type));

    expect([...droppedTypes].sort()).toEqual(
      [
        'AWS::CloudWatch::Alarm',
        'AWS::CloudWatch::Dashboard',
        'AWS::Lambda::EventInvokeConfig',
        'AWS::Logs::QueryDefinition',
        'AWS::S3::BucketPolicy',
        'AWS::SNS::TopicPolicy',
        'AWS::SQS::QueuePolicy',
      ].sort(),
    );
    expect(Object.values(smoke.dropped).every((reason) => reason.length > 10)).toBe(true);
  });

  it('reaches CREATE_COMPLETE with every remaining resource', async () => {
    const { StackResources } = await cloudformation.send(new DescribeStackResourcesCommand({ StackName: STACK_NAME }));

    expect(stack?.StackStatus, stack?.StackStatusReason).toBe('CREATE_COMPLETE');
    expect((StackResources ?? []).map((created) => created.LogicalResourceId).sort()).toEqual(Object.keys(smoke.template.Resources).sort());
  });

  it('creates the ledger table with its key, history index and on-demand billing', async () => {
    const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: 'pgpool-vip-ledger-dev' }));

    expect(Table?.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    expect(Table?.GlobalSecondaryIndexes?.map((index) => [index.IndexName, index.KeySchema])).toEqual([
      [
        'byCluster',
        [
          { AttributeName: 'cluster', KeyType: 'HASH' },
          { AttributeName: 'recordedAt', KeyType: 'RANGE' },
        ],
      ],
    ]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
  });

  it('creates the bus with the switchover rule targeting the function and its dead-letter queue', async () => {
    const bus = await clients.eventbridge.send(new DescribeEventBusCommand({ Name: 'pgpool-vip-dev' }));
    const { Rules } = await clients.eventbridge.send(new ListRulesCommand({ EventBusName: 'pgpool-vip-dev' }));
    const { Targets } = await clients.eventbridge.send(
      new ListTargetsByRuleCommand({ Rule: 'pgpool-vip-dev-switchover-requests', EventBusName: 'pgpool-vip-dev' }),
    );

    expect(bus.Name).toBe('pgpool-vip-dev');
    expect(Rules?.map((rule) => rule.Name)).toContain('pgpool-vip-dev-switchover-requests');
    expect(Targets?.map((target) => [target.Arn?.endsWith(':function:pgpool-vip-dev-switchover'), target.DeadLetterConfig?.Arn?.includes(':sqs:')])).toEqual([
      [true, true],
    ]);
  });

  it('creates the SSM document from infra/ssm-document.json', async () => {
    const { Document } = await clients.ssm.send(new DescribeDocumentCommand({ Name: 'pgpool-vip-address-dev' }));

    expect(Document?.DocumentType).toBe('Command');
    expect(Document?.DocumentFormat).toBe('JSON');
    expect(Document?.Parameters?.map((parameter) => parameter.Name).sort()).toEqual(['Action', 'Interface', 'Vip']);
  });
});
