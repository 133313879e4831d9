import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsJsonClient, DYNAMODB } from '../../agent/aws-json.ts';
import { Deadline } from '../../agent/deadline.ts';
import { waitForOutcome } from '../../agent/outcome.ts';
import { requestKey } from '../../lib/ledger-records.ts';
import { MOTO_REGION, MOTO_ROOT_CREDENTIALS } from '../../local/aws-clients.ts';
import { sharedMoto } from '../kit/moto.ts';
import { createHarness, type Harness } from '../../local/harness/controller-harness.ts';

// An outcome recorded under the agent's request id for another content (a refused squatter's)
// is not its answer: the agent reads the ledger with its own client, as on a node.
let moto: ReturnType<typeof sharedMoto>;
let harness: Harness;
beforeAll(async () => {
  moto = sharedMoto();
  harness = await createHarness(moto.endpoint);
});
afterAll(async () => {
  await moto?.stop();
});

describe('Function: the agent waits for the outcome of its own content (against moto)', () => {
  it("makes the agent wait past an outcome recorded for another content under its id", async () => {
    const requestId = randomUUID();
    const put = (digest: string, status: string, reason: string) =>
      harness.clients.dynamodb.send(
        new PutItemCommand({
          TableName: harness.world.ledgerTable,
          Item: marshall({ pk: requestKey(requestId), requestId, cluster: 'main', status, reason, digest, ttl: 1, attempts: 1 }),
        }),
      );
    await put('f'.repeat(64), 'rejected', 'squatted');
    const waiting = waitForOutcome({
      client: new AwsJsonClient(DYNAMODB, { region: MOTO_REGION, credentials: MOTO_ROOT_CREDENTIALS, env: { AWS_ENDPOINT_URL: moto.endpoint } }),
      table: harness.world.ledgerTable,
      requestId,
      digest: 'a'.repeat(64),
      deadline: new Deadline(10_000),
      pollIntervalMs: 50,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await put('a'.repeat(64), 'applied', 'moved');

    expect(await waiting).toMatchObject({ status: 'applied', reason: 'moved' });
  });
});

describe('Function: an up ends once its routes are written and the VIP is on the interface (against moto)', () => {
  const client = () => new AwsJsonClient(DYNAMODB, { region: MOTO_REGION, credentials: MOTO_ROOT_CREDENTIALS, env: { AWS_ENDPOINT_URL: moto.endpoint } });
  const record = (requestId: string, fields: Record<string, unknown>) =>
    harness.clients.dynamodb.send(
      new PutItemCommand({
        TableName: harness.world.ledgerTable,
        Item: marshall({ pk: requestKey(requestId), requestId, cluster: 'main', digest: 'a'.repeat(64), ttl: 1, attempts: 1, ...fields }),
      }),
    );
  const wait = (requestId: string, landed: () => boolean) =>
    waitForOutcome({ client: client(), table: harness.world.ledgerTable, requestId, digest: 'a'.repeat(64), deadline: new Deadline(10_000), pollIntervalMs: 50, landed });

  it('ends routed when the claim that wrote the mark holds the request and the VIP arrives, with no outcome yet', async () => {
    const requestId = randomUUID();
    await record(requestId, { status: 'claimed', claimToken: 'token-1', routedClaim: 'token-1' });
    let onInterface = false;
    const waiting = wait(requestId, () => onInterface);
    await new Promise((resolve) => setTimeout(resolve, 200));
    onInterface = true;

    expect(await waiting).toMatchObject({ status: 'routed', attempts: 1 });
  });

  it("waits for the outcome when the mark is another claim's, or when the VIP never arrives", async () => {
    const otherClaim = randomUUID();
    const noVip = randomUUID();
    await record(otherClaim, { status: 'claimed', claimToken: 'token-2', routedClaim: 'token-1' });
    await record(noVip, { status: 'claimed', claimToken: 'token-1', routedClaim: 'token-1' });
    const waitingOther = wait(otherClaim, () => true);
    const waitingNoVip = wait(noVip, () => false);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await record(otherClaim, { status: 'applied', claimToken: 'token-2' });
    await record(noVip, { status: 'failed', reason: 'SSM command ended Failed', failedStep: 'ssm-add', claimToken: 'token-1' });

    expect(await waitingOther).toMatchObject({ status: 'applied' });
    expect(await waitingNoVip).toMatchObject({ status: 'failed', failedStep: 'ssm-add' });
  });
});
