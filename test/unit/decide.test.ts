import { describe, expect, it } from 'vitest';
import type { VipRecord } from '../../lib/ledger-records.ts';
import type { VipRoute } from '../../functions/adapters/ec2-routes.ts';
import { decide, nextVipRecord, type DecisionContext, type SwitchoverRequest } from '../../functions/core/decide.ts';

const SENDER = { instanceId: 'i-0000000000000000a', eni: 'eni-0000000000000000a' };
const OTHER = { instanceId: 'i-0000000000000000b', eni: 'eni-0000000000000000b' };
const T = (seconds: number): string => new Date(Date.UTC(2026, 10, 25, 12, 0, seconds)).toISOString();

const CONTEXT: DecisionContext = { now: new Date(T(31)), holderRunning: true, displacedHoldSeconds: 20 };

const request = (action: 'up' | 'down'): SwitchoverRequest => ({
  requestId: '11111111-1111-4111-8111-111111111111',
  action,
  issuedAt: T(30),
  ...SENDER,
});

type RouteState = 'absent' | 'sender' | 'other' | 'sender-blackhole';
type LedgerState = 'none' | 'sender-older' | 'sender-newer' | 'other-older' | 'other-newer' | 'sender-released';

function route(state: RouteState): VipRoute {
  const base = { routeTableId: 'rtb-0000000000000000a', vpcId: 'vpc-1' };
  switch (state) {
    case 'absent':
      return { ...base, target: null, state: null };
    case 'sender':
      return { ...base, target: SENDER.eni, state: 'active' };
    case 'other':
      return { ...base, target: OTHER.eni, state: 'active' };
    case 'sender-blackhole':
      return { ...base, target: SENDER.eni, state: 'blackhole' };
  }
}

function ledger(state: LedgerState): VipRecord | null {
  if (state === 'none') return null;
  const holder = state.startsWith('sender') ? SENDER : OTHER;
  return {
    pk: 'vip#demo',
    cluster: 'demo',
    vip: '198.19.0.50',
    holderInstanceId: holder.instanceId,
    holderEni: holder.eni,
    upIssuedAt: state.endsWith('newer') ? T(40) : T(10),
    upRequestId: '22222222-2222-4222-8222-222222222222',
    released: state === 'sender-released',
    releasedAt: state === 'sender-released' ? T(20) : null,
    version: 3,
    updatedAt: T(10),
  };
}

// action x route in the table x ledger state -> plan kind, outcome, route change.
// `-` means no route change is planned (down never plans one; stale plans nothing).
const TABLE: Array<[action: 'up' | 'down', route: RouteState, ledger: LedgerState, kind: string, outcome: string, change: string]> = [
  ['up', 'absent', 'none', 'up', 'applied', 'create'],
  ['up', 'sender', 'none', 'up', 'applied', 'keep'],
  ['up', 'other', 'none', 'up', 'applied', 'replace'],
  ['up', 'sender-blackhole', 'none', 'up', 'applied', 'replace'],
  ['up', 'absent', 'sender-older', 'up', 'applied', 'create'],
  ['up', 'sender', 'sender-older', 'up', 'noop', 'keep'],
  ['up', 'other', 'sender-older', 'up', 'applied', 'replace'],
  ['up', 'sender-blackhole', 'sender-older', 'up', 'applied', 'replace'],
  ['up', 'absent', 'sender-newer', 'stale', 'stale', '-'],
  ['up', 'sender', 'sender-newer', 'stale', 'stale', '-'],
  ['up', 'other', 'sender-newer', 'stale', 'stale', '-'],
  ['up', 'sender-blackhole', 'sender-newer', 'stale', 'stale', '-'],
  ['up', 'absent', 'other-older', 'up', 'applied', 'create'],
  ['up', 'sender', 'other-older', 'up', 'applied', 'keep'],
  ['up', 'other', 'other-older', 'up', 'applied', 'replace'],
  ['up', 'sender-blackhole', 'other-older', 'up', 'applied', 'replace'],
  ['up', 'absent', 'other-newer', 'stale', 'stale', '-'],
  ['up', 'sender', 'other-newer', 'stale', 'stale', '-'],
  ['up', 'other', 'other-newer', 'stale', 'stale', '-'],
  ['up', 'sender-blackhole', 'other-newer', 'stale', 'stale', '-'],
  ['up', 'absent', 'sender-released', 'up', 'applied', 'create'],
  ['up', 'sender', 'sender-released', 'up', 'applied', 'keep'],
  ['up', 'other', 'sender-released', 'up', 'applied', 'replace'],
  ['up', 'sender-blackhole', 'sender-released', 'up', 'applied', 'replace'],
  ['down', 'absent', 'none', 'down', 'noop', '-'],
  ['down', 'sender', 'none', 'down', 'noop', '-'],
  ['down', 'other', 'none', 'down', 'noop', '-'],
  ['down', 'sender-blackhole', 'none', 'down', 'noop', '-'],
  ['down', 'absent', 'sender-older', 'down', 'applied', '-'],
  ['down', 'sender', 'sender-older', 'down', 'applied', '-'],
  ['down', 'other', 'sender-older', 'down', 'applied', '-'],
  ['down', 'sender-blackhole', 'sender-older', 'down', 'applied', '-'],
  ['down', 'absent', 'sender-newer', 'stale', 'stale', '-'],
  ['down', 'sender', 'sender-newer', 'stale', 'stale', '-'],
  ['down', 'other', 'sender-newer', 'stale', 'stale', '-'],
  ['down', 'sender-blackhole', 'sender-newer', 'stale', 'stale', '-'],
  ['down', 'absent', 'other-older', 'down', 'noop', '-'],
  ['down', 'sender', 'other-older', 'down', 'noop', '-'],
  ['down', 'other', 'other-older', 'down', 'noop', '-'],
  ['down', 'sender-blackhole', 'other-older', 'down', 'noop', '-'],
  ['down', 'absent', 'other-newer', 'down', 'noop', '-'],
  ['down', 'sender', 'other-newer', 'down', 'noop', '-'],
  ['down', 'other', 'other-newer', 'down', 'noop', '-'],
  ['down', 'sender-blackhole', 'other-newer', 'down', 'noop', '-'],
  ['down', 'absent', 'sender-released', 'down', 'noop', '-'],
  ['down', 'sender', 'sender-released', 'down', 'noop', '-'],
  ['down', 'other', 'sender-released', 'down', 'noop', '-'],
  ['down', 'sender-blackhole', 'sender-released', 'down', 'noop', '-'],
];

describe('Function: decide', () => {
  it('covers every combination of action, route state and ledger state', () => {
    const combinations = new Set(TABLE.map(([action, routeState, ledgerState]) => `${action}/${routeState}/${ledgerState}`));
    expect(combinations.size).toBe(2 * 4 * 6);
  });

  it.each(TABLE)('%s with route %s and ledger %s plans %s (%s, route %s)', (action, routeState, ledgerState, kind, outcome, change) => {
    // Act
    const plan = decide(request(action), ledger(ledgerState), [route(routeState)], CONTEXT);

    // Assess
    expect(plan.kind).toBe(kind);
    if (plan.kind === 'up') {
      expect(plan.outcome).toBe(outcome);
      expect(plan.routes).toEqual([{ routeTableId: 'rtb-0000000000000000a', before: route(routeState).target, change }]);
    } else if (plan.kind === 'down') {
      expect(plan.outcome).toBe(outcome);
      expect(change).toBe('-');
      expect(plan.release).toBe(outcome === 'applied');
    } else {
      expect(outcome).toBe('stale');
      expect(plan.reason).toContain(T(30));
    }
  });

  it('plans each table on its own', () => {
    const tables = [route('absent'), { ...route('sender'), routeTableId: 'rtb-2' }, { ...route('other'), routeTableId: 'rtb-3' }];

    const plan = decide(request('up'), ledger('none'), tables, CONTEXT);

    expect(plan.kind === 'up' && plan.routes.map((table) => table.change)).toEqual(['create', 'keep', 'replace']);
  });

  it('treats an up older than the same instance\'s release as stale (a delayed up must not undo a later down)', () => {
    const released = { ...(ledger('sender-released') as VipRecord), releasedAt: T(40) };

    const plan = decide(request('up'), released, [route('sender')], CONTEXT);

    expect(plan.kind).toBe('stale');
    expect(plan.kind === 'stale' && plan.reason).toContain(`older than this instance's release of the VIP (${T(40)})`);
  });

  it('treats an up issued at the same instant as the holder as current, not stale', () => {
    const holder = { ...(ledger('other-older') as VipRecord), upIssuedAt: T(30) };

    expect(decide(request('up'), holder, [route('other')], CONTEXT).kind).toBe('up');
  });
});

describe('Function: nextVipRecord', () => {
  const now = new Date(T(31));
  const target = { ...request('up'), cluster: 'demo', vip: '198.19.0.50' };

  it('makes the sender holder with the next version on up', () => {
    const current = ledger('other-older');
    const plan = decide(request('up'), current, [route('other')], CONTEXT);

    expect(nextVipRecord(plan, target, current, now)).toEqual({
      pk: 'vip#demo',
      cluster: 'demo',
      vip: '198.19.0.50',
      holderInstanceId: SENDER.instanceId,
      holderEni: SENDER.eni,
      upIssuedAt: T(30),
      upRequestId: target.requestId,
      released: false,
      releasedAt: null,
      displacedInstanceId: OTHER.instanceId,
      displacedAt: T(30),
      version: 4,
      updatedAt: now.toISOString(),
    });
  });

  it('starts at version 1 for the first up', () => {
    const plan = decide(request('up'), null, [route('absent')], CONTEXT);

    expect(nextVipRecord(plan, target, null, now)?.version).toBe(1);
  });

  it('records a release from the holder and keeps the holder', () => {
    const current = ledger('sender-older');
    const plan = decide(request('down'), current, [route('sender')], CONTEXT);

    expect(nextVipRecord(plan, { ...target, action: 'down' }, current, now)).toMatchObject({
      holderInstanceId: SENDER.instanceId,
      released: true,
      releasedAt: T(30),
      version: 4,
    });
  });

  it('writes nothing for a down from a node that is not the holder, nor for a stale request', () => {
    const current = ledger('other-newer');

    expect(nextVipRecord(decide(request('down'), current, [route('other')], CONTEXT), target, current, now)).toBeNull();
    expect(nextVipRecord(decide(request('up'), current, [route('other')], CONTEXT), target, current, now)).toBeNull();
  });
});

describe('Function: decide, split-brain guard', () => {
  // OTHER took the VIP from SENDER at T(20); SENDER, still believing it leads, asks again at T(30).
  const displacedBy = (overrides: Partial<VipRecord> = {}): VipRecord => ({
    ...(ledger('other-older') as VipRecord),
    upIssuedAt: T(20),
    displacedInstanceId: SENDER.instanceId,
    displacedAt: T(20),
    ...overrides,
  });

  it('refuses the displaced instance while the new holder runs and has not released the VIP', () => {
    const plan = decide(request('up'), displacedBy(), [route('other')], CONTEXT);

    expect(plan.kind).toBe('stale');
    expect(plan.kind === 'stale' && plan.reason).toBe(
      `${SENDER.instanceId} lost the VIP to ${OTHER.instanceId} at ${T(20)}; it may take it back once it sent a down, ${OTHER.instanceId} released the VIP or stopped running, or 20 s after that (two nodes claim to lead)`,
    );
  });

  it('lets the displaced instance take the VIP back when the holder is no longer running', () => {
    expect(decide(request('up'), displacedBy(), [route('other')], { ...CONTEXT, holderRunning: false }).kind).toBe('up');
  });

  it('lets the displaced instance take the VIP back once the hold has passed', () => {
    expect(decide(request('up'), displacedBy(), [route('other')], { ...CONTEXT, now: new Date(T(41)) }).kind).toBe('up');
  });

  it('lets the displaced instance take the VIP back after the holder released it', () => {
    expect(decide(request('up'), displacedBy({ released: true, releasedAt: T(25) }), [route('other')], CONTEXT).kind).toBe('up');
  });

  it('lifts the hold when the displaced instance sends a down: it stopped claiming to lead', () => {
    const current = displacedBy();
    const down = decide(request('down'), current, [route('other')], CONTEXT);

    const next = nextVipRecord(down, { ...request('down'), cluster: 'demo', vip: '198.19.0.50' }, current, new Date(T(31)));

    expect(down).toMatchObject({ kind: 'down', outcome: 'noop', release: false, endsDisplacement: true });
    expect(next).toMatchObject({ holderInstanceId: OTHER.instanceId, displacedInstanceId: null, displacedAt: null, version: 4 });
    expect(decide(request('up'), next, [route('other')], CONTEXT).kind).toBe('up');
  });

  it('never holds back an instance that was not the one displaced', () => {
    expect(decide(request('up'), displacedBy({ displacedInstanceId: 'i-0000000000000000c' }), [route('other')], CONTEXT).kind).toBe('up');
  });
});

describe('Function: nextVipRecord, displacement', () => {
  const now = new Date(T(31));
  const target = { ...request('up'), cluster: 'demo', vip: '198.19.0.50' };

  it('records whom an up displaced, and when', () => {
    const current = ledger('other-older');

    const next = nextVipRecord(decide(request('up'), current, [route('other')], CONTEXT), target, current, now);

    expect(next).toMatchObject({ displacedInstanceId: OTHER.instanceId, displacedAt: T(30) });
  });

  it('keeps the displacement through a re-up of the same holder, and displaces nobody after a release', () => {
    const holding = { ...(ledger('sender-older') as VipRecord), displacedInstanceId: OTHER.instanceId, displacedAt: T(5) };
    const released = ledger('sender-released');

    expect(nextVipRecord(decide(request('up'), holding, [route('sender')], CONTEXT), target, holding, now)).toMatchObject({
      displacedInstanceId: OTHER.instanceId,
      displacedAt: T(5),
    });
    expect(nextVipRecord(decide(request('up'), released, [route('sender')], CONTEXT), target, released, now)).toMatchObject({
      displacedInstanceId: null,
      displacedAt: null,
    });
  });
});

