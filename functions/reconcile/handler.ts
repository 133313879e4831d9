import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { controllerEnvironment } from '../environment.ts';
import { ssmInterfaceProbe } from './interface-check.ts';
import { createReconcileHandler } from './reconcile-flow.ts';

/** Each check is a command run as root on the holder: once per cluster per 5 minutes is plenty. */
const INTERFACE_CHECK_INTERVAL_MS = 300_000;
const INTERFACE_CHECK_TIMEOUT_MS = 8000;

// The same environment as the switchover function: one configuration, validated at init.
const environment = controllerEnvironment(process.env);

/** Lambda entry: a Scheduled Event (every minute) or an EC2 Instance State-change Notification. */
export const handler = createReconcileHandler({
  config: environment.config,
  settings: { ledgerTable: environment.settings.ledgerTable },
  ec2: new EC2Client({}),
  dynamodb: new DynamoDBClient({}),
  interfaceCheck: {
    probe: ssmInterfaceProbe(new SSMClient({}), INTERFACE_CHECK_TIMEOUT_MS),
    enabledFor: (cluster) => cluster.checkInterface,
    minIntervalMs: INTERFACE_CHECK_INTERVAL_MS,
  },
});
