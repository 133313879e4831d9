import { describe, expect, it } from 'vitest';
import type { Incarnation } from '../../lib/contract.ts';
import { send as sendAs } from '../kit/flow.ts';
import { createMemoryHarness, type FlowHarness } from '../kit/memory-harness.ts';

// What each node's agent reads from its pgpool process tree (one boot per node).
const BOOT = ['0b0b0b0b-1111-4111-8111-000000000001', '0b0b0b0b-2222-4222-8222-000000000002'] as const;
const escalation = (node: 0 | 1, watchdog: string, escalationProcess: string): Incarnation => ({
  bootId: BOOT[node],
  watchdog,
  escalation: escalationProcess,
});
const reacquire = (node: 0 | 1, watchdog: string): Incarnation => ({ bootId: BOOT[node], watchdog, escalation: null });

async function send(harness: FlowHarness, node: 0 | 1, action: 'up' | 'down', incarnation: Incarnation, options: { issuedAt?: Date } = {}) {
  return (await sendAs(harness, node, action, { incarnation, ...options })).result;
}

describe('Function: switchover handler, leadership through a sequence of failures (in memory)', () => {
  it('gives the VIP to the restarted node the majority elects within seconds of its displacement, and keeps it from the isolated old leader that keeps claiming', async () => {
    // Prepare: pgpool-2 (watchdog 500@4000) holds the VIP.
    const harness = createMemoryHarness();
    const [pgpool1, pgpool2] = harness.world.instances;
    const table = harness.world.routeTableIds[0] as string;
    expect((await send(harness, 1, 'up', escalation(1, '500@4000', '520@4100'))).outcome).toBe('applied');
    // Crash: pgpool-2's pgpool is killed (no down); pgpool-1 (watchdog 300@2000) is elected and displaces it.
    expect((await send(harness, 0, 'up', escalation(0, '300@2000', '330@6000'))).outcome).toBe('applied');
    expect(await harness.routeTargets()).toEqual({ [table]: pgpool1?.eni });

    // Act: pgpool-2's pgpool restarts (new watchdog 900@7000) and rejoins as a standby. Seconds
    // later pgpool-1 is isolated; the majority elects pgpool-2, whose escalation runs if_up_cmd.
    const elected = await send(harness, 1, 'up', escalation(1, '900@7000', '930@7500'));
    // pgpool-1, isolated, still believes it leads: each fencing makes its watchdog re-run if_up_cmd.
    const reclaims = [];
    for (let attempt = 0; attempt < 3; attempt += 1) reclaims.push(await send(harness, 0, 'up', reacquire(0, '300@2000')));
    const whileClaiming = await harness.vip();
    // About 2 s later pgpool-1 notices it lost quorum and resigns.
    const resigned = await send(harness, 0, 'down', escalation(0, '300@2000', '340@8200'));

    // Assess: one route change, to the elected node; none for the old leader's claims.
    expect(elected).toMatchObject({ outcome: 'applied', holderBefore: pgpool1?.instanceId, holderAfter: pgpool2?.instanceId });
    expect(elected.routes).toEqual([{ routeTableId: table, before: pgpool1?.eni, after: pgpool2?.eni, change: 'replace' }]);
    for (const reclaim of reclaims) {
      expect(reclaim.outcome).toBe('stale');
      expect(reclaim.reason).toContain(`${pgpool1?.instanceId} lost the VIP to ${pgpool2?.instanceId}`);
      expect(reclaim.routes).toEqual([]);
      expect(reclaim.ssmCommands).toEqual([]);
    }
    // The ledger remembers the claim (so that a release could hand it the VIP), nothing else.
    expect(whileClaiming).toMatchObject({ holderInstanceId: pgpool2?.instanceId, heldClaim: { instanceId: pgpool1?.instanceId, eni: pgpool1?.eni } });
    expect(resigned.outcome).toBe('noop');
    expect(await harness.routeTargets()).toEqual({ [table]: pgpool2?.eni });
    expect(await harness.vip()).toMatchObject({ holderInstanceId: pgpool2?.instanceId, released: false, displacedInstanceId: null, heldClaim: null });
  });

  it("hands the VIP to the isolated old leader when pgpool's split-brain resolution keeps it and the new leader resigns", async () => {
    // Prepare: pgpool-1 (watchdog 300@2000) leads and holds the VIP.
    const harness = createMemoryHarness();
    const [pgpool1, pgpool2] = harness.world.instances;
    const table = harness.world.routeTableIds[0] as string;
    await send(harness, 0, 'up', escalation(0, '300@2000', '330@6000'));
    // pgpool-1 is isolated; the majority elects pgpool-2, which takes the VIP (pgpool-1 is fenced).
    expect((await send(harness, 1, 'up', escalation(1, '500@4000', '520@4100'))).outcome).toBe('applied');
    // pgpool-1's watchdog sees the VIP vanish and re-runs if_up_cmd: held, and pgpool-1's command fails.
    const reclaim = await send(harness, 0, 'up', reacquire(0, '300@2000'));
    expect(reclaim.outcome).toBe('stale');

    // Act: the heal; pgpool's split-brain resolution keeps pgpool-1 as leader (it runs no
    // if_up_cmd again), and pgpool-2 resigns.
    const resigned = await send(harness, 1, 'down', escalation(1, '500@4000', '540@9000'));

    // Assess: the VIP follows the leader pgpool kept, routes and interface, in the down's own outcome.
    expect(resigned).toMatchObject({ outcome: 'applied', holderBefore: pgpool2?.instanceId, holderAfter: pgpool1?.instanceId });
    expect(resigned.reason).toContain(`handed the VIP to ${pgpool1?.instanceId}`);
    expect(resigned.routes).toEqual([{ routeTableId: table, before: pgpool2?.eni, after: pgpool1?.eni, change: 'replace' }]);
    expect(resigned.ssmCommands.map((command) => [command.purpose, command.instanceIds])).toEqual([
      ['remove', [pgpool2?.instanceId]],
      ['add', [pgpool1?.instanceId]],
    ]);
    expect(await harness.routeTargets()).toEqual({ [table]: pgpool1?.eni });
    expect(await harness.vip()).toMatchObject({ holderInstanceId: pgpool1?.instanceId, holderEni: pgpool1?.eni, released: false, heldClaim: null, upRequestId: reclaim.requestId });

    // pgpool-1 leads on: its later re-acquire is answered with success, and its resignation releases the VIP.
    expect((await send(harness, 0, 'up', reacquire(0, '300@2000'))).outcome).toBe('noop');
    expect((await send(harness, 0, 'down', escalation(0, '300@2000', '350@9900'))).outcome).toBe('applied');
    expect(await harness.vip()).toMatchObject({ holderInstanceId: pgpool1?.instanceId, released: true });
  });

  it('hands nothing over when the isolated old leader resigned before the new leader did', async () => {
    const harness = createMemoryHarness();
    const [, pgpool2] = harness.world.instances;
    const table = harness.world.routeTableIds[0] as string;
    await send(harness, 0, 'up', escalation(0, '300@2000', '330@6000'));
    await send(harness, 1, 'up', escalation(1, '500@4000', '520@4100'));
    await send(harness, 0, 'up', reacquire(0, '300@2000'));
    await send(harness, 0, 'down', escalation(0, '300@2000', '340@8200'));

    const resigned = await send(harness, 1, 'down', escalation(1, '500@4000', '540@9000'));

    expect(resigned).toMatchObject({ outcome: 'applied', reason: null, holderAfter: null });
    expect(resigned.ssmCommands.map((command) => command.purpose)).toEqual(['remove']);
    expect(await harness.routeTargets()).toEqual({ [table]: pgpool2?.eni });
    expect(await harness.vip()).toMatchObject({ holderInstanceId: pgpool2?.instanceId, released: true });
  });

  it('gives the VIP back to the displaced node when its watchdog wins a later election, without a restart or a down', async () => {
    const harness = createMemoryHarness();
    const [pgpool1] = harness.world.instances;
    await send(harness, 0, 'up', escalation(0, '300@2000', '330@6000'));
    await send(harness, 1, 'up', escalation(1, '500@4000', '520@4100'));

    // pgpool-1's down was lost (no route to AWS while isolated); healed, it is elected again.
    const result = await send(harness, 0, 'up', escalation(0, '300@2000', '360@9900'));

    expect(result.outcome).toBe('applied');
    expect(await harness.routeTargets()).toEqual({ [harness.world.routeTableIds[0] as string]: pgpool1?.eni });
  });

  it("answers the leader's earlier if_up_cmd with success when its later one, delivered first, already made it holder", async () => {
    // pgpool ran two if_up_cmds 56 ms apart (an escalation, and its watchdog re-acquiring after its
    // own down took the VIP off); the bus delivered the later one first.
    const harness = createMemoryHarness();
    const [pgpool1] = harness.world.instances;
    const table = harness.world.routeTableIds[0] as string;
    const first = new Date(Date.now() - 56);
    const laterUp = await send(harness, 0, 'up', reacquire(0, '300@2000'));
    const versionAfterLater = (await harness.vip())?.version;

    const earlierUp = await send(harness, 0, 'up', escalation(0, '300@2000', '330@6000'), { issuedAt: first });

    expect(laterUp.outcome).toBe('applied');
    expect(earlierUp).toMatchObject({ outcome: 'noop', holderBefore: pgpool1?.instanceId, holderAfter: pgpool1?.instanceId });
    expect(earlierUp.routes).toEqual([{ routeTableId: table, before: pgpool1?.eni, after: pgpool1?.eni, change: 'keep' }]);
    expect((await harness.vip())?.version).toBe(versionAfterLater);
    expect(await harness.routeTargets()).toEqual({ [table]: pgpool1?.eni });
  });

  it("moves the VIP on a later up even when the holder's clock ran 9 s ahead of the sender's", async () => {
    const harness = createMemoryHarness();
    const [, pgpool2] = harness.world.instances;
    const fast = new Date(Date.now() + 9000);
    await send(harness, 0, 'up', escalation(0, '300@2000', '330@6000'), { issuedAt: fast });

    const result = await send(harness, 1, 'up', escalation(1, '500@4000', '520@4100'));

    expect(result.outcome).toBe('applied');
    expect(await harness.routeTargets()).toEqual({ [harness.world.routeTableIds[0] as string]: pgpool2?.eni });
  });
});
