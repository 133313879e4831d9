import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { motoClientConfig } from '../../local/aws-clients.ts';
import { sharedMoto } from '../kit/moto.ts';

// The ledger's claims are DynamoDB transactions, and DynamoDB isolates a transaction from every
// other write: one that fails its condition changes nothing. moto alone copies the table when a
// transaction starts and puts the copy back when a condition fails, erasing what other requests
// wrote meanwhile. The fault matrix met it: a claim given up on after the clients' request timeout
// failed its condition after its retry had landed, and the claim and the VIP record vanished.
// The tests' moto_server (local/moto-server.ts) handles the DynamoDB requests to one table one at a time.

/** Enough items (of many attributes) that copying the table takes moto a while, so writes land during the copy. */
const TABLE_ITEMS = 2000;
const ATTRIBUTES = 20;
/** At most this many writes while the transaction runs, one at a time, each to an item that already exists. */
const WRITES = 40;

const table = `isolation-${process.pid}-${Date.now()}`;
let dynamodb: DynamoDBClient;

beforeAll(async () => {
  dynamodb = new DynamoDBClient({ ...motoClientConfig(sharedMoto().endpoint), maxAttempts: 1 });
  await dynamodb.send(
    new CreateTableCommand({
      TableName: table,
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  for (let first = 0; first < TABLE_ITEMS; first += 25) {
    const items = Array.from({ length: 25 }, (_, index) => ({
      PutRequest: {
        Item: {
          pk: { S: `item#${first + index}` },
          value: { S: 'before' },
          ...Object.fromEntries(Array.from({ length: ATTRIBUTES }, (_, attribute) => [`a${attribute}`, { S: 'x'.repeat(20) }])),
        },
      },
    }));
    await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [table]: items } }));
  }
});

afterAll(async () => {
  await dynamodb.send(new DeleteTableCommand({ TableName: table }));
  dynamodb.destroy();
});

describe("The tests' moto_server: DynamoDB transactions are isolated from other writes", () => {
  it('a transaction that fails its condition leaves every write acknowledged while it ran in place', async () => {
    // Two writes to the table, the second refused: the transaction fails and changes nothing.
    const transaction = dynamodb
      .send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: { TableName: table, Item: { pk: { S: 'transaction#new' }, value: { S: 'written' } } } },
            { Put: { TableName: table, Item: { pk: { S: 'item#0' }, value: { S: 'overwritten' } }, ConditionExpression: 'attribute_not_exists(pk)' } },
          ],
        }),
      )
      .then(
        () => 'applied',
        (error: Error) => error.name,
      );
    let settled = false;
    void transaction.then(() => {
      settled = true;
    });
    // Writes one after the other while the transaction runs (and at least one after it started).
    const acknowledged: string[] = [];
    for (let index = 1; index <= WRITES && (index === 1 || !settled); index += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      const key = `item#${index}`;
      await dynamodb.send(new PutItemCommand({ TableName: table, Item: { pk: { S: key }, value: { S: 'after' } } }));
      acknowledged.push(key);
    }

    expect(await transaction).toBe('TransactionCanceledException');
    const values = await Promise.all(
      ['transaction#new', 'item#0', ...acknowledged].map(async (key) => {
        const item = await dynamodb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: key } }, ConsistentRead: true }));
        return [key, item.Item?.value?.S ?? null] as const;
      }),
    );
    expect(Object.fromEntries(values)).toEqual({
      'transaction#new': null,
      'item#0': 'before',
      ...Object.fromEntries(acknowledged.map((key) => [key, 'after'])),
    });
  });
});
