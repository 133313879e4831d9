import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { controllerEnvironment } from '../environment.ts';
import { createReconcileHandler } from './reconcile.ts';

// The same environment as the switchover function: one configuration, validated at init.
const environment = controllerEnvironment(process.env);

/**
 * Lambda entry: a Scheduled Event (every minute) or an EC2 Instance State-change Notification.
 * The interface check is not wired: it needs a `check` action in the SSM document (docs/audit.md).
 */
export const handler = createReconcileHandler({
  config: environment.config,
  settings: { ledgerTable: environment.settings.ledgerTable },
  ec2: new EC2Client({}),
  dynamodb: new DynamoDBClient({}),
});
