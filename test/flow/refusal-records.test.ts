import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { envelope, signedDetail } from '../../local/requests.ts';
import type { WorldInstance } from '../../local/world.ts';
import { createMemoryHarness, MEMORY_STS_ENDPOINT, type MemoryHarness } from '../kit/memory-harness.ts';

// What a refused event leaves behind: never a claim on someone else's request id, never the
// sender's text unbounded or unescaped.
let harness: MemoryHarness;
beforeAll(() => {
  harness = createMemoryHarness();
});

const node = (index: number): WorldInstance => harness.world.instances[index] as WorldInstance;

describe('Function: refusals of unverified events do not occupy a request id (in memory)', () => {
  it('lets a genuine request take the id an unverified, refused event used first', async () => {
    const requestId = randomUUID();
    const forged = await signedDetail(harness.world, node(1), { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT, requestId });
    const squat = { ...forged, proof: { ...forged.proof, headers: { ...forged.proof.headers, 'x-pgpool-vip-digest': '0'.repeat(64) } } };

    const refused = await harness.invoke(envelope(squat, harness.world));
    const genuine = await signedDetail(harness.world, node(0), { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT, requestId });
    const applied = await harness.invoke(envelope(genuine, harness.world));

    expect(refused).toMatchObject({ outcome: 'rejected', failedStep: 'verify', callerArn: null });
    expect(applied).toMatchObject({ outcome: 'applied', duplicate: false, attempts: 1 });
    expect(await harness.request(requestId)).toMatchObject({ status: 'applied', instanceId: node(0).instanceId, attempts: 1 });
    expect(await harness.routeTargets()).toEqual({ [harness.world.routeTableIds[0] as string]: node(0).eni });
  });

  it('still answers a redelivery of a verified request from the ledger', async () => {
    const detail = await signedDetail(harness.world, node(0), { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });
    await harness.invoke(envelope(detail, harness.world));

    const again = await harness.invoke(envelope(detail, harness.world));

    expect(again).toMatchObject({ duplicate: true });
  });

  it("keeps an unverified refusal from overwriting a verified request's record", async () => {
    const detail = await signedDetail(harness.world, node(0), { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });
    await harness.invoke(envelope(detail, harness.world));
    const squat = { ...detail, proof: { ...detail.proof, headers: { ...detail.proof.headers, authorization: 'forged' } } };

    const refused = await harness.invoke(envelope(squat, harness.world));

    expect(refused).toMatchObject({ outcome: 'rejected', failedStep: 'verify' });
    const record = await harness.request(detail.requestId);
    expect(record).toMatchObject({ status: 'noop' });
    expect(record?.callerArn).toContain('assumed-role');
  });
});

describe('Function: sender text in refusals is bounded and escaped (in memory)', () => {
  it('stores an escaped, bounded excerpt of a 50 KB unsigned host header', async () => {
    const detail = await signedDetail(harness.world, node(0), { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });
    const html = `<html><script>alert("x")</script>${'A'.repeat(50_000)}</html>`.slice(0, 4096);
    const hostile = { ...detail, proof: { ...detail.proof, headers: { ...detail.proof.headers, host: html } } };

    const result = await harness.invoke(envelope(hostile, harness.world));
    const record = await harness.request(detail.requestId);

    expect(result.reason).toBe(
      'proof is signed for host "\\u003chtml\\u003e\\u003cscript\\u003ealert(\\u0022x\\u0022)\\u003c/script\\u003eAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"... (4096 characters); ' +
        `this controller accepts only ${new URL(MEMORY_STS_ENDPOINT).host}`,
    );
    expect(record?.reason).toBe(result.reason);
    expect(record).toMatchObject({ cluster: harness.world.config.clusters[0]?.name, status: 'rejected' });
  });

  it('refuses a 50 KB host header at parse, before any of it is reflected', async () => {
    const detail = await signedDetail(harness.world, node(0), { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });
    const hostile = { ...detail, proof: { ...detail.proof, headers: { ...detail.proof.headers, host: `<html>${'A'.repeat(50_112)}` } } };

    const result = await harness.invoke(envelope(hostile, harness.world));

    expect(result.reason).toBe('malformed request: detail.proof.headers.host: each header is at most 4096 characters');
  });

  it('keeps issuedAt out of the identity of a refusal when it is not an ISO time', async () => {
    const detail = await signedDetail(harness.world, node(0), { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });

    const result = await harness.invoke(envelope({ ...detail, issuedAt: '<img src=x onerror=alert(1)>' }, harness.world));
    const record = await harness.request(detail.requestId);

    expect(result).toMatchObject({ outcome: 'rejected', failedStep: 'parse', issuedAt: null });
    expect(record).toMatchObject({ status: 'rejected', issuedAt: null });
  });

  it('names unknown fields bounded and escaped, however long the sender made them', async () => {
    const detail = await signedDetail(harness.world, node(0), { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });

    const result = await harness.invoke(envelope({ ...detail, [`<b>${'k'.repeat(10_000)}`]: 1 }, harness.world));

    expect(result.reason).toBe('malformed request: detail: unknown field "\\u003cb\\u003ekkkkkkkkkkkkkkkkkkkkk"... (10003 characters)');
  });

  it('names a bad action without echoing it raw', async () => {
    const detail = await signedDetail(harness.world, node(0), { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });

    const result = await harness.invoke(envelope({ ...detail, action: '<svg onload=alert(1)>' }, harness.world));

    expect(result.reason).toBe('malformed request: detail.action: must be one of up, down, not "\\u003csvg onload=alert(1)\\u003e"');
  });
});
