// The infrastructure of a local world, deployed from the packaged template into moto's
// CloudFormation: nothing here declares a resource, it only reads what the stack created.
import { CreateStackCommand, DescribeStackResourcesCommand, DescribeStacksCommand, type Stack } from '@aws-sdk/client-cloudformation';
import { GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { OUTCOME_SOURCE } from '../lib/contract.ts';
import type { AwsClients } from './aws-clients.ts';
import { worldStackOf } from './moto-stack.ts';
import { packagedService } from './packaged-service.ts';

/** The stage the world is packaged for: its names (`pgpool-vip-dev`, ...) are a dev stack's. */
export const WORLD_STAGE = 'dev';

export interface WorldStackNames {
  stackName: string;
  busName: string;
  ledgerTable: string;
  documentName: string;
  roleName: string;
  instanceProfile: string;
  requestQueueUrl: string;
  outcomeQueueUrl: string;
}

const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;

/**
 * Creates the world's part of the packaged stack (moto-stack.ts: worldStackOf) with every
 * physical name prefixed by `prefix`, and reads back what it named.
 */
export async function deployWorldStack(clients: AwsClients, prefix: string): Promise<WorldStackNames> {
  const stackName = `${prefix}pgpool-vip-${WORLD_STAGE}`;
  if (!STACK_NAME.test(stackName)) throw new Error(`world prefix ${JSON.stringify(prefix)}: a stack name starts with a letter and holds only letters, digits and '-'`);
  const { template } = await packagedService(WORLD_STAGE);
  const stack = worldStackOf(template, prefix, { source: [OUTCOME_SOURCE] });
  await clients.cloudformation.send(
    new CreateStackCommand({ StackName: stackName, TemplateBody: JSON.stringify(stack.template), Capabilities: ['CAPABILITY_NAMED_IAM'] }),
  );
  const created = await settled(clients, stackName);
  if (created.StackStatus !== 'CREATE_COMPLETE') {
    throw new Error(`stack ${stackName} ended ${created.StackStatus ?? 'without a status'}: ${created.StackStatusReason ?? 'no reason given'}`);
  }
  const output = (key: string): string => required(created.Outputs?.find((candidate) => candidate.OutputKey === key)?.OutputValue, `output ${key}`);
  const { StackResources } = await clients.cloudformation.send(new DescribeStackResourcesCommand({ StackName: stackName }));
  const physical = (logicalId: string): string =>
    required(StackResources?.find((resource) => resource.LogicalResourceId === logicalId)?.PhysicalResourceId, `resource ${logicalId}`);
  // The stack names a queue by its URL on the SQS endpoint of AWS: ask this endpoint for its own.
  const queueUrl = async (logicalId: string): Promise<string> => {
    const name = physical(logicalId).split('/').pop() ?? '';
    return required((await clients.sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl, `URL of ${name}`);
  };
  return {
    stackName,
    busName: output('BusName'),
    ledgerTable: output('LedgerTableName'),
    documentName: output('AddressDocumentName'),
    instanceProfile: output('NodeInstanceProfileName'),
    roleName: physical('NodeRole'),
    requestQueueUrl: await queueUrl('LocalRequestQueue'),
    outcomeQueueUrl: await queueUrl('LocalOutcomeQueue'),
  };
}

/** moto creates a stack within the call; AWS takes a while: wait for the end either way. */
async function settled(clients: AwsClients, stackName: string): Promise<Stack> {
  for (let attempt = 0; ; attempt += 1) {
    const { Stacks } = await clients.cloudformation.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = Stacks?.[0];
    if (stack?.StackStatus !== undefined && !stack.StackStatus.endsWith('_IN_PROGRESS')) return stack;
    if (attempt === 120) throw new Error(`stack ${stackName} still ${stack?.StackStatus ?? 'unknown'} after 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** A value moto must have answered with. */
export function required<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new Error(`moto answered without ${what}`);
  return value;
}
