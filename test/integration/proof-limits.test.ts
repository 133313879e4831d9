import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signProof } from '../../lib/proof.ts';
import { sharedMoto } from '../kit/moto.ts';
import { envelope, signedDetail } from '../../local/requests.ts';
import type { WorldInstance } from '../../local/world.ts';
import { createHarness, type Harness } from '../../local/harness/controller-harness.ts';
import { countingSts } from '../support/counting-sts.ts';

// Proofs whose cost or scope is wrong are refused before STS is asked, and nothing moves.
let moto: ReturnType<typeof sharedMoto>;
let harness: Harness;
let sts: ReturnType<typeof countingSts>;
beforeAll(async () => {
  moto = sharedMoto();
  sts = countingSts();
  harness = await createHarness(moto.endpoint, { deps: { stsHttp: sts } });
});
afterAll(async () => {
  await moto?.stop();
});

const node1 = (): WorldInstance => harness.world.instances[0] as WorldInstance;
const signed = () => signedDetail(harness.world, node1(), { action: 'up', stsEndpoint: moto.endpoint });

async function refusedUnchanged(event: unknown) {
  const callsBefore = sts.calls;
  const result = await harness.invoke(event);
  expect(sts.calls - callsBefore).toBe(0);
  expect(Object.values(await harness.routeTargets())).toEqual([null]);
  return result;
}

describe('Function: proof limits (against moto)', () => {
  it('refuses a 231 KB authorization header at parse, by its size', async () => {
    const detail = await signed();
    const hostile = { ...detail, proof: { ...detail.proof, headers: { ...detail.proof.headers, authorization: `AWS4-HMAC-SHA256 ${'Credential='.repeat(21_000)}` } } };

    const result = await refusedUnchanged(envelope(hostile, harness.world));

    expect(result).toMatchObject({ outcome: 'rejected', failedStep: 'parse' });
    expect(result.reason).toBe('malformed request: detail.proof.headers.authorization: each header is at most 4096 characters');
  });

  it('refuses a proof with more headers than a signed GetCallerIdentity has', async () => {
    const detail = await signed();
    const extra = Object.fromEntries(Array.from({ length: 20 }, (_, index) => [`x-filler-${index}`, 'x']));
    const hostile = { ...detail, proof: { ...detail.proof, headers: { ...detail.proof.headers, ...extra } } };

    const result = await refusedUnchanged(envelope(hostile, harness.world));

    expect(result).toMatchObject({ outcome: 'rejected', failedStep: 'parse', reason: 'malformed request: detail.proof.headers: at most 16 headers' });
  });

  it('refuses an authorization header with two SignedHeaders= components', async () => {
    const detail = await signed();
    const authorization = `${detail.proof.headers.authorization}, SignedHeaders=host`;
    const hostile = { ...detail, proof: { ...detail.proof, headers: { ...detail.proof.headers, authorization } } };

    const result = await refusedUnchanged(envelope(hostile, harness.world));

    expect(result).toMatchObject({ outcome: 'rejected', failedStep: 'verify', reason: 'proof authorization has more than one SignedHeaders= component' });
  });

  it("refuses a proof scoped to another region than the controller's", async () => {
    const detail = await signed();
    const { proof: _, ...unsigned } = detail;
    const proof = await signProof({
      detail: unsigned,
      region: 'eu-west-1',
      credentials: node1().credentials,
      stsEndpoint: new URL(moto.endpoint),
      signingDate: new Date(detail.issuedAt),
    });

    const result = await refusedUnchanged(envelope({ ...unsigned, proof }, harness.world));

    expect(result).toMatchObject({
      outcome: 'rejected',
      failedStep: 'verify',
      reason: `proof is signed for region "eu-west-1"; this controller is in ${harness.world.region}`,
    });
  });

  it('still accepts a proof signed as the agent signs it', async () => {
    const result = await harness.invoke(envelope(await signed(), harness.world));

    expect(result.outcome).toBe('applied');
  });
});
