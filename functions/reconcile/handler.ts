import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { awsReconcilePorts } from '../adapters/aws-ports.ts';
import { ssmInterfaceProbe } from '../adapters/ssm-interface-probe.ts';
import { reconcileEnvironment } from '../environment.ts';
import { createReconcileHandler } from './reconcile-flow.ts';

/** Each check is a command run as root on the holder: once per cluster per 5 minutes is plenty. */
const INTERFACE_CHECK_INTERVAL_MS = 300_000;
const INTERFACE_CHECK_TIMEOUT_MS = 8000;

// One configuration with the switchover function, validated at init.
const environment = reconcileEnvironment(process.env);

/** Lambda entry: a Scheduled Event (every minute) or an EC2 Instance State-change Notification. */
export const handler = createReconcileHandler({
  config: environment.config,
  ports: awsReconcilePorts({ ec2: new EC2Client({}), dynamodb: new DynamoDBClient({}) }, environment.ledgerTable),
  interfaceCheck: {
    probe: ssmInterfaceProbe(new SSMClient({}), INTERFACE_CHECK_TIMEOUT_MS),
    enabledFor: (cluster) => cluster.checkInterface,
    minIntervalMs: INTERFACE_CHECK_INTERVAL_MS,
  },
});
