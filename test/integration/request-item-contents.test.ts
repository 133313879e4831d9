import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { requestKey } from '../../lib/ledger-records.ts';
import { createHarness } from '../../local/harness/controller-harness.ts';
import { envelope, signedDetail } from '../../local/requests.ts';
import type { WorldInstance } from '../../local/world.ts';
import { sharedMoto } from '../kit/moto.ts';

/**
 * Any node of the stage may GetItem a `request#<id>` item whose id it knows (docs/deploy.md,
 * "Ledger"). What such an item holds is listed here: facts the node can already read with its
 * EC2 Describe grants, the outcome, and nothing that can be replayed (no proof, no signature).
 * (While a request is only claimed, its item also has claimedAt and no outcome fields.)
 */
const REQUEST_ITEM_ATTRIBUTES = [
  'action', 'attempts', 'callerArn', 'claimToken', 'cluster', 'digest', 'durationMs', 'failedStep', 'holderAfter',
  'holderBefore', 'instanceId', 'issuedAt', 'pk', 'reason', 'recordedAt', 'requestId', 'routes', 'ssmCommands', 'status', 'ttl', 'vip',
];

describe('What a request item of the ledger holds', () => {
  it('holds the request\'s identity, its outcome and the controller\'s claim, never the proof', async () => {
    const moto = sharedMoto();
    const harness = await createHarness(moto.endpoint, {});
    const node = harness.world.instances[0] as WorldInstance;
    const detail = await signedDetail(harness.world, node, { action: 'up', stsEndpoint: moto.endpoint });
    expect((await harness.invoke(envelope(detail, harness.world))).outcome).toBe('applied');

    const stored = await harness.clients.dynamodb.send(new GetItemCommand({ TableName: harness.world.ledgerTable, Key: { pk: { S: requestKey(detail.requestId) } } }));
    const item = unmarshall(stored.Item ?? {});
    expect(Object.keys(item).sort()).toEqual(REQUEST_ITEM_ATTRIBUTES);
    const signature = /Signature=([0-9a-f]+)/.exec(detail.proof.headers.authorization ?? '')?.[1] ?? '';
    expect(signature).not.toBe('');
    expect(JSON.stringify(item)).not.toContain(signature);
    expect(JSON.stringify(item)).not.toContain(detail.proof.headers['x-amz-security-token'] ?? 'no token');
  });
});
