import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ListInstanceProfilesForRoleCommand } from '@aws-sdk/client-iam';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { DescribeDocumentCommand } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTCOME_SOURCE, REQUEST_DETAIL_TYPE, REQUEST_SOURCE } from '../../lib/contract.ts';
import { LEDGER_HISTORY_INDEX } from '../../lib/ledger-records.ts';
import { destroyClients, motoClients, type AwsClients } from '../../local/aws-clients.ts';
import { SWITCHOVER_FUNCTION, WORLD_ADDITIONS, worldStackOf } from '../../local/moto-stack.ts';
import { cachedPackage, packagedService, type CfnTemplate } from '../../local/packaged-service.ts';
import { deployWorldStack, WORLD_STAGE, type WorldStackNames } from '../../local/world-stack.ts';
import { sharedMoto } from '../kit/moto.ts';

let packaged: CfnTemplate;
let clients: AwsClients;
let first: WorldStackNames;
let second: WorldStackNames;

beforeAll(async () => {
  ({ template: packaged } = await packagedService(WORLD_STAGE));
  clients = motoClients(sharedMoto().endpoint);
  [first, second] = await Promise.all([
    deployWorldStack(clients, `ws1-${process.pid}-`),
    deployWorldStack(clients, `ws2-${process.pid}-`),
  ]);
});

afterAll(() => destroyClients(clients));

describe('Template: the package cache', () => {
  it('answers again from the cache, with the same folder and template', async () => {
    const again = await packagedService(WORLD_STAGE);
    const read = cachedPackage(WORLD_STAGE);

    expect(read?.cached).toBe(true);
    expect(read?.dir).toBe(again.dir);
    expect(read?.template).toEqual(packaged);
  });
});

describe('Template: the world stack, taken from the packaged template', () => {
  it('takes the bus, switchover rule, ledger, document and node role as packaged, and adds only the local queues and outcome rule', () => {
    const { template, switchoverRule } = worldStackOf(packaged, '', { source: [OUTCOME_SOURCE] });
    const taken = Object.keys(template.Resources).filter((logicalId) => !(logicalId in WORLD_ADDITIONS));

    expect(taken.sort()).toEqual(
      ['AddressDocument', 'Bus', 'LedgerTable', 'NodeInstanceProfile', 'NodePolicy', 'NodeRole', 'RequestDeadLetterQueue', switchoverRule].sort(),
    );
    for (const logicalId of taken.filter((id) => id !== switchoverRule && id !== 'AddressDocument')) {
      expect(template.Resources[logicalId], logicalId).toEqual(packaged.Resources[logicalId]);
    }
    expect(Object.keys(template.Resources).filter((logicalId) => logicalId in WORLD_ADDITIONS).sort()).toEqual(Object.keys(WORLD_ADDITIONS).sort());
  });

  it('keeps the switchover rule\'s pattern, retry policy and dead-letter queue, and delivers to the local request queue instead of the function', () => {
    const { template, switchoverRule } = worldStackOf(packaged, '', { source: [OUTCOME_SOURCE] });
    const { Targets: packagedTargets, ...packagedRule } = packaged.Resources[switchoverRule]?.Properties ?? {};
    const { Targets: targets, ...rule } = template.Resources[switchoverRule]?.Properties ?? {};

    expect(rule).toEqual(packagedRule);
    expect(JSON.stringify(packagedTargets)).toContain(SWITCHOVER_FUNCTION);
    expect(targets).toEqual([
      { ...(packagedTargets as Array<Record<string, unknown>>)[0], Arn: { 'Fn::GetAtt': ['LocalRequestQueue', 'Arn'] } },
    ]);
  });

  it('puts the prefix in front of every physical name the template sets, and nowhere else', () => {
    const plain = worldStackOf(packaged, '', { source: [OUTCOME_SOURCE] }).template;
    const prefixed = worldStackOf(packaged, 'w7-', { source: [OUTCOME_SOURCE] }).template;
    const names = (template: CfnTemplate): string[] =>
      ['Bus.Name', 'LedgerTable.TableName', 'AddressDocument.Name', 'NodeRole.RoleName', 'NodeInstanceProfile.InstanceProfileName'].map((path) => {
        const [logicalId = '', property = ''] = path.split('.');
        return String(template.Resources[logicalId]?.Properties?.[property]);
      });

    expect(names(plain)).toEqual(['pgpool-vip-dev', 'pgpool-vip-ledger-dev', 'pgpool-vip-address-dev', 'pgpool-vip-node-dev-us-east-1', 'pgpool-vip-node-dev-us-east-1']);
    expect(names(prefixed)).toEqual(names(plain).map((name) => `w7-${name}`));
    expect(JSON.stringify(prefixed).replaceAll('w7-', '')).toBe(JSON.stringify(plain));
  });

  it('refuses a prefix that cannot start a stack name, before any call', async () => {
    await expect(deployWorldStack(clients, '7-')).rejects.toThrow("world prefix \"7-\": a stack name starts with a letter and holds only letters, digits and '-'");
  });
});

describe('Template: two worlds deployed into one moto_server', () => {
  it('get their own bus, ledger, document, role and queues, read back from the stack', () => {
    expect(first.busName).toBe(`ws1-${process.pid}-pgpool-vip-dev`);
    expect(second.busName).toBe(`ws2-${process.pid}-pgpool-vip-dev`);
    for (const key of Object.keys(first) as Array<keyof WorldStackNames>) expect(first[key], key).not.toBe(second[key]);
  });

  it('has the ledger table with its history index, the document and the instance profile of the node role', async () => {
    const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: first.ledgerTable }));
    const { Document } = await clients.ssm.send(new DescribeDocumentCommand({ Name: first.documentName }));
    const { InstanceProfiles } = await clients.iam.send(new ListInstanceProfilesForRoleCommand({ RoleName: first.roleName }));

    expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName)).toEqual([LEDGER_HISTORY_INDEX]);
    expect(Document?.DocumentType).toBe('Command');
    expect(InstanceProfiles?.map((profile) => profile.InstanceProfileName)).toEqual([first.instanceProfile]);
  });

  it('delivers a request on one world\'s bus to that world\'s request queue only, and an outcome to its outcome queue', async () => {
    await clients.eventbridge.send(
      new PutEventsCommand({
        Entries: [
          { EventBusName: first.busName, Source: REQUEST_SOURCE, DetailType: REQUEST_DETAIL_TYPE, Detail: '{"probe":"request"}' },
          { EventBusName: first.busName, Source: OUTCOME_SOURCE, DetailType: 'VIP Switchover Applied', Detail: '{"probe":"outcome"}' },
        ],
      }),
    );
    const bodies = async (queueUrl: string): Promise<string[]> =>
      ((await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }))).Messages ?? []).map(
        (message) => (JSON.parse(message.Body ?? '{}') as { detail?: { probe?: string } }).detail?.probe ?? '',
      );

    expect(await bodies(first.requestQueueUrl)).toEqual(['request']);
    expect(await bodies(first.outcomeQueueUrl)).toEqual(['outcome']);
    expect(await bodies(second.requestQueueUrl)).toEqual([]);
  });
});
