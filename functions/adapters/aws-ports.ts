import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { HttpHandler } from '@smithy/protocol-http';
import type { ReconcilePorts, SwitchoverPorts } from '../core/ports.ts';
import { Ec2InstanceReader, Ec2Members } from './ec2-instances.ts';
import { Ec2RouteTables } from './ec2-routes.ts';
import { DynamoLedger } from './ledger.ts';
import { VipRecordReader } from './ledger-vip-reader.ts';
import { EventBridgeOutcomeBus } from './outcome-events.ts';
import { SsmNodeAddress } from './ssm-address.ts';
import { StsCallerIdentity } from './sts-proof.ts';

/** The SDK clients behind the switchover's ports; each is injected, so tests can point them anywhere. */
export interface SwitchoverClients {
  ec2: EC2Client;
  ssm: SSMClient;
  dynamodb: DynamoDBClient;
  eventbridge: EventBridgeClient;
  /** Sends the proof to STS. */
  stsHttp: HttpHandler;
}

/** Where the ports point: the ledger table, the bus, and the controller's own STS endpoint. */
export interface AwsPortSettings {
  ledgerTable: string;
  busName: string;
  stsEndpoint: URL;
  /** Only for AWS in memory, where no write lands late (Ec2RouteTables); the controller keeps the default. */
  unansweredWriteLandsWithinMs?: number;
}

/** Every switchover port on AWS, one adapter per service. */
export function awsSwitchoverPorts(clients: SwitchoverClients, settings: AwsPortSettings): SwitchoverPorts {
  return {
    ledger: new DynamoLedger(clients.dynamodb, settings.ledgerTable),
    routeTables: new Ec2RouteTables(clients.ec2, { unansweredWriteLandsWithinMs: settings.unansweredWriteLandsWithinMs }),
    members: new Ec2Members(clients.ec2),
    nodeAddress: new SsmNodeAddress(clients.ssm),
    callerIdentity: new StsCallerIdentity(clients.stsHttp, settings.stsEndpoint),
    outcomeBus: new EventBridgeOutcomeBus(clients.eventbridge, settings.busName),
  };
}

/** The reconciler's ports on AWS: the VIP record reader only, so its role cannot write the ledger. */
export function awsReconcilePorts(clients: Pick<SwitchoverClients, 'ec2' | 'dynamodb'>, ledgerTable: string): ReconcilePorts {
  return {
    ledger: new VipRecordReader(clients.dynamodb, ledgerTable),
    routeTables: new Ec2RouteTables(clients.ec2),
    members: new Ec2InstanceReader(clients.ec2),
  };
}
