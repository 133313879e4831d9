import { describe, expect, it } from 'vitest';
import type { WorldInstance } from '../../local/world.ts';
import { envelope, signedDetail } from '../../local/requests.ts';
import { createMemoryHarness, MEMORY_STS_ENDPOINT, type MemoryHarness } from '../kit/memory-harness.ts';

/**
 * The first claim of the request loses every answer without having landed yet (a DynamoDB call
 * past the request timeout); `land()` applies it later, as DynamoDB may once the caller went on.
 */
function claimLandingLate(harness: MemoryHarness): { land: () => Promise<unknown> } {
  const { ledger } = harness.ports;
  const claim = ledger.claim.bind(ledger);
  let held: (() => Promise<unknown>) | null = null;
  ledger.claim = async (input, vipWrite) => {
    if (held === null) {
      held = () => claim(input, vipWrite);
      throw Object.assign(new Error('a request has exceeded the configured 3000 ms requestTimeout'), { name: 'TimeoutError' });
    }
    return await claim(input, vipWrite);
  };
  return {
    land: async () => {
      if (held === null) throw new Error('no claim was held');
      return await held();
    },
  };
}

describe('Function: switchover handler, a claim whose answers were lost lands late (in memory)', () => {
  it('refuses the claim that lands after its attempt recorded the failure, so the resend is applied', async () => {
    // Prepare
    const harness = createMemoryHarness({ routeTableCount: 3 });
    const [node1] = harness.world.instances as [WorldInstance];
    const late = claimLandingLate(harness);
    const signed = await signedDetail(harness.world, node1, { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });
    const event = envelope(signed, harness.world);

    // Act: the first attempt fails at its claim; the claim lands; the agent sends again.
    const first = await harness.invoke(event);
    const landed = await late.land();
    const resent = await harness.invoke(event);

    // Assess
    expect(first).toMatchObject({ outcome: 'failed', failedStep: 'claim' });
    expect(landed).toMatchObject({ kind: 'duplicate', record: { status: 'failed' } });
    expect(resent.outcome).toBe('applied');
    expect(await harness.request(signed.requestId)).toMatchObject({ status: 'applied' });
    expect(Object.values(await harness.routeTargets())).toEqual([node1.eni, node1.eni, node1.eni]);
  });

  it('records the failure over the claim that landed between its two tries at the record, not leaving it claimed', async () => {
    const harness = createMemoryHarness({ routeTableCount: 3 });
    const [node1] = harness.world.instances as [WorldInstance];
    const late = claimLandingLate(harness);
    // The claim lands after the record found no claim to write over, before it writes a new one.
    const { ledger } = harness.ports;
    const recordUnclaimed = ledger.recordUnclaimedOutcome.bind(ledger);
    ledger.recordUnclaimedOutcome = async (record) => {
      await late.land();
      return await recordUnclaimed(record);
    };
    const signed = await signedDetail(harness.world, node1, { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });
    const event = envelope(signed, harness.world);

    const first = await harness.invoke(event);
    const afterFirst = await harness.request(signed.requestId);
    const resent = await harness.invoke(event);

    expect(first).toMatchObject({ outcome: 'failed', failedStep: 'claim' });
    expect(afterFirst).toMatchObject({ status: 'failed', failedStep: 'claim' });
    expect(resent.outcome).toBe('applied');
    expect(await harness.request(signed.requestId)).toMatchObject({ status: 'applied' });
  });
});
