import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SSMClient } from '@aws-sdk/client-ssm';
import { controllerClientSettings, stsProofTransport } from '../adapters/client-settings.ts';
import { awsSwitchoverPorts } from '../adapters/aws-ports.ts';
import { switchoverEnvironment } from '../environment.ts';
import { createSwitchoverHandler } from './switchover-flow.ts';

// Read and validated once per container: a misconfigured deployment fails at init, loudly.
const environment = switchoverEnvironment(process.env);

/** Lambda entry: one `VIP Switchover Requested` event per invocation. */
export const handler = createSwitchoverHandler({
  config: environment.config,
  accountId: environment.accountId,
  region: environment.region,
  stsEndpoint: environment.stsEndpoint,
  ports: awsSwitchoverPorts(
    {
      ec2: new EC2Client(controllerClientSettings()),
      ssm: new SSMClient(controllerClientSettings()),
      dynamodb: new DynamoDBClient(controllerClientSettings()),
      eventbridge: new EventBridgeClient(controllerClientSettings()),
      stsHttp: stsProofTransport(),
    },
    environment,
  ),
});
