import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { sharedMoto } from '../kit/moto.ts';
import { createHarness, type Harness } from '../../local/harness/controller-harness.ts';

let moto: ReturnType<typeof sharedMoto>;
let harness: Harness;
beforeAll(async () => {
  moto = sharedMoto();
  harness = await createHarness(moto.endpoint);
});
afterAll(async () => {
  await moto?.stop();
});

const claimInput = (requestId: string, claimToken: string, digest = 'a'.repeat(64)) => ({
  requestId,
  cluster: 'demo',
  vip: '198.19.0.50',
  action: 'up' as const,
  instanceId: 'i-0000000000000000a',
  issuedAt: new Date().toISOString(),
  digest,
  callerArn: 'arn:aws:sts::123456789012:assumed-role/pgpool-vip-node/i-0000000000000000a',
  now: new Date(),
  ttl: Math.floor(Date.now() / 1000) + 3600,
  leaseMs: 60_000,
  claimToken,
});

describe('Class: Ledger (against moto)', () => {
  it('claims a request once: a second delivery is a duplicate', async () => {
    const requestId = randomUUID();

    const first = await harness.ledger.claim(claimInput(requestId, 'token-1'));
    const second = await harness.ledger.claim(claimInput(requestId, 'token-2'));

    expect(first).toEqual({ kind: 'claimed', attempts: 1 });
    expect(second).toMatchObject({ kind: 'duplicate', record: { status: 'claimed', requestId } });
  });

  it('knows its own claim when the SDK retries a claim whose first answer was lost', async () => {
    const requestId = randomUUID();
    await harness.ledger.claim(claimInput(requestId, 'token-1'));

    const retried = await harness.ledger.claim(claimInput(requestId, 'token-1'));

    expect(retried).toEqual({ kind: 'claimed', attempts: 1 });
  });

  it('lets a failed request be claimed again with the same digest, and not with another', async () => {
    const requestId = randomUUID();
    await harness.ledger.claim(claimInput(requestId, 'token-1'));
    const claimed = await harness.ledger.readRequest(requestId);
    await harness.ledger.recordOutcome({ ...(claimed as NonNullable<typeof claimed>), status: 'failed', reason: 'route table rtb-1: throttled' });

    const otherContent = await harness.ledger.claim(claimInput(requestId, 'token-2', 'b'.repeat(64)));
    const retry = await harness.ledger.claim(claimInput(requestId, 'token-3'));

    expect(otherContent).toMatchObject({ kind: 'duplicate', record: { status: 'failed' } });
    expect(retry).toEqual({ kind: 'claimed', attempts: 2 });
    expect(await harness.ledger.readRequest(requestId)).toMatchObject({ status: 'claimed', attempts: 2 });
    expect((await harness.ledger.readRequest(requestId))?.reason).toBeUndefined();
  });

  it('writes an outcome only over its own attempt\'s claim: a superseded attempt\'s late "failed" leaves the newer "applied"', async () => {
    const requestId = randomUUID();
    // The first attempt's lease ran out (it claimed two minutes ago), so a retry took the request over.
    await harness.ledger.claim({ ...claimInput(requestId, 'token-old'), now: new Date(Date.now() - 120_000) });
    const stale = await harness.ledger.readRequest(requestId);
    expect(await harness.ledger.claim(claimInput(requestId, 'token-new'))).toEqual({ kind: 'claimed', attempts: 2 });
    const current = await harness.ledger.readRequest(requestId);
    const newer = await harness.ledger.recordOutcome({ ...(current as NonNullable<typeof current>), status: 'applied' });

    const late = await harness.ledger.recordOutcome({ ...(stale as NonNullable<typeof stale>), status: 'failed', reason: 'route table rtb-1: timed out' });

    expect(await harness.ledger.readRequest(requestId)).toMatchObject({ status: 'applied', claimToken: 'token-new', attempts: 2 });
    expect((await harness.ledger.readRequest(requestId))?.reason).toBeUndefined();
    expect(newer).toBe(true);
    expect(late).toBe(false);
  });

  it('writes the VIP record only over the version it read', async () => {
    const record = {
      pk: 'vip#ledger-test',
      cluster: 'ledger-test',
      vip: '198.19.0.50',
      holderInstanceId: 'i-0000000000000000a',
      holderEni: 'eni-0000000000000000a',
      upIssuedAt: new Date().toISOString(),
      upRequestId: randomUUID(),
      released: false,
      version: 1,
      updatedAt: new Date().toISOString(),
    };

    expect(await harness.ledger.writeVip(record, null)).toBe(true);
    expect(await harness.ledger.writeVip({ ...record, version: 2 }, null)).toBe(false);
    expect(await harness.ledger.writeVip({ ...record, version: 2 }, 1)).toBe(true);
    expect(await harness.ledger.writeVip({ ...record, version: 3 }, 1)).toBe(false);
    expect(await harness.ledger.readVip('ledger-test')).toMatchObject({ version: 2 });
  });

  it('claims a request and writes the VIP record together, or neither', async () => {
    const vip = (cluster: string, version: number) => ({
      pk: `vip#${cluster}`,
      cluster,
      vip: '198.19.0.51',
      holderInstanceId: 'i-0000000000000000a',
      holderEni: 'eni-0000000000000000a',
      upIssuedAt: new Date().toISOString(),
      upRequestId: randomUUID(),
      released: false,
      version,
      updatedAt: new Date().toISOString(),
    });
    const cluster = `together-${randomUUID().slice(0, 8)}`;
    const first = randomUUID();
    const raced = randomUUID();

    const claimed = await harness.ledger.claim(claimInput(first, 'token-1'), { next: vip(cluster, 1), expectedVersion: null });
    const changed = await harness.ledger.claim(claimInput(raced, 'token-2'), { next: vip(cluster, 2), expectedVersion: 7 });
    const duplicate = await harness.ledger.claim(claimInput(first, 'token-3'), { next: vip(cluster, 2), expectedVersion: 1 });

    expect(claimed).toEqual({ kind: 'claimed', attempts: 1 });
    expect(changed).toEqual({ kind: 'vip-changed' });
    expect(await harness.ledger.readRequest(raced)).toBeNull();
    expect(duplicate).toMatchObject({ kind: 'duplicate', record: { requestId: first, status: 'claimed' } });
    expect(await harness.ledger.readVip(cluster)).toMatchObject({ version: 1 });
  });
});
