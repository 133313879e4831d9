import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { IAMClient } from '@aws-sdk/client-iam';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import type { NodeHttpHandlerOptions } from '@smithy/node-http-handler';
import type { HttpHandler } from '@smithy/protocol-http';
import type { AwsCredentialIdentity } from '@smithy/types';

export const MOTO_REGION = 'us-east-1';
export const MOTO_ACCOUNT_ID = '123456789012';
export const MOTO_ROOT_CREDENTIALS: AwsCredentialIdentity = { accessKeyId: 'testing', secretAccessKey: 'testing' };

/** SDK client settings for moto: one attempt, because moto's HTML 500s would be retried with side effects. */
export function motoClientConfig(endpoint: string, credentials: AwsCredentialIdentity = MOTO_ROOT_CREDENTIALS) {
  return { endpoint, region: MOTO_REGION, credentials, maxAttempts: 1 };
}

export interface AwsClients {
  ec2: EC2Client;
  ssm: SSMClient;
  sts: STSClient;
  dynamodb: DynamoDBClient;
  eventbridge: EventBridgeClient;
  sqs: SQSClient;
  iam: IAMClient;
  logs: CloudWatchLogsClient;
  cloudformation: CloudFormationClient;
}

/** One client per service, all pointed at the same moto endpoint (through `requestHandler` when given). */
export function motoClients(endpoint: string, credentials?: AwsCredentialIdentity, requestHandler?: HttpHandler<NodeHttpHandlerOptions>): AwsClients {
  const config = { ...motoClientConfig(endpoint, credentials), ...(requestHandler === undefined ? {} : { requestHandler }) };
  return {
    ec2: new EC2Client(config),
    ssm: new SSMClient(config),
    sts: new STSClient(config),
    dynamodb: new DynamoDBClient(config),
    eventbridge: new EventBridgeClient(config),
    sqs: new SQSClient(config),
    iam: new IAMClient(config),
    logs: new CloudWatchLogsClient(config),
    cloudformation: new CloudFormationClient(config),
  };
}

export function destroyClients(clients: AwsClients): void {
  for (const client of Object.values(clients) as Array<{ destroy(): void }>) client.destroy();
}
