import { describe, expect, it } from 'vitest';
import type { Incarnation } from '../../lib/contract.ts';
import type { MemberClaim, VipRecord } from '../../lib/ledger-records.ts';
import type { VipRoute } from '../../functions/core/model.ts';
import { decide, nextVipRecord, type DecisionContext, type SwitchoverRequest } from '../../functions/core/decide.ts';

const SENDER = { instanceId: 'i-0000000000000000a', eni: 'eni-0000000000000000a' };
const OTHER = { instanceId: 'i-0000000000000000b', eni: 'eni-0000000000000000b' };
const THIRD = { instanceId: 'i-0000000000000000c', eni: 'eni-0000000000000000c' };
const T = (seconds: number): string => new Date(Date.UTC(2026, 10, 25, 12, 0, seconds)).toISOString();

const CONTEXT: DecisionContext = { holderRunning: true };

const request = (action: 'up' | 'down', overrides: Partial<SwitchoverRequest> = {}): SwitchoverRequest => ({
  requestId: '11111111-1111-4111-8111-111111111111',
  action,
  issuedAt: T(30),
  ...SENDER,
  ...overrides,
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

/** `-older`/`-newer`: the holder's up was issued before/after the request by the holder's own clock. */
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
// Another member's issuedAt never makes a request stale (its clock may run ahead): `other-newer`
// plans like `other-older`. The sender's own later up that still holds the VIP (`sender-newer`)
// makes an earlier up converge on that hold; a later down makes it stale (`sender-released`).
const TABLE: Array<[action: 'up' | 'down', route: RouteState, ledger: LedgerState, kind: string, outcome: string, change: string]> = [
  ['up', 'absent', 'none', 'up', 'applied', 'create'],
  ['up', 'sender', 'none', 'up', 'applied', 'keep'],
  ['up', 'other', 'none', 'up', 'applied', 'replace'],
  ['up', 'sender-blackhole', 'none', 'up', 'applied', 'replace'],
  ['up', 'absent', 'sender-older', 'up', 'applied', 'create'],
  ['up', 'sender', 'sender-older', 'up', 'noop', 'keep'],
  ['up', 'other', 'sender-older', 'up', 'applied', 'replace'],
  ['up', 'sender-blackhole', 'sender-older', 'up', 'applied', 'replace'],
  ['up', 'absent', 'sender-newer', 'up', 'applied', 'create'],
  ['up', 'sender', 'sender-newer', 'up', 'noop', 'keep'],
  ['up', 'other', 'sender-newer', 'up', 'applied', 'replace'],
  ['up', 'sender-blackhole', 'sender-newer', 'up', 'applied', 'replace'],
  ['up', 'absent', 'other-older', 'up', 'applied', 'create'],
  ['up', 'sender', 'other-older', 'up', 'applied', 'keep'],
  ['up', 'other', 'other-older', 'up', 'applied', 'replace'],
  ['up', 'sender-blackhole', 'other-older', 'up', 'applied', 'replace'],
  ['up', 'absent', 'other-newer', 'up', 'applied', 'create'],
  ['up', 'sender', 'other-newer', 'up', 'applied', 'keep'],
  ['up', 'other', 'other-newer', 'up', 'applied', 'replace'],
  ['up', 'sender-blackhole', 'other-newer', 'up', 'applied', 'replace'],
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
    expect(plan.kind === 'stale' && plan.reason).toBe(`request issued at ${T(30)} is older than this instance's own later down (issued at ${T(40)})`);
  });

  it('lets an earlier up converge on the hold of the same instance\'s later up (two if_up_cmds delivered out of order)', () => {
    const holding = ledger('sender-newer');

    const plan = decide(request('up'), holding, [route('sender')], CONTEXT);

    expect(plan).toEqual({ kind: 'up', outcome: 'noop', routes: [{ routeTableId: 'rtb-0000000000000000a', before: SENDER.eni, change: 'keep' }] });
  });

  it('still refuses an earlier up once another node took the VIP after the sender\'s later up', () => {
    const members: Record<string, MemberClaim> = { [SENDER.instanceId]: { upIssuedAt: T(40), upIncarnation: null, downIssuedAt: null } };
    const taken = { ...(ledger('other-older') as VipRecord), upIssuedAt: T(45), members };

    const plan = decide(request('up'), taken, [route('other')], CONTEXT);

    expect(plan.kind === 'stale' && plan.reason).toBe(`request issued at ${T(30)} is older than this instance's own later up (issued at ${T(40)})`);
  });

  it('still refuses an earlier up when the sender holds the VIP on another ENI now', () => {
    const moved = { ...(ledger('sender-newer') as VipRecord), holderEni: 'eni-0000000000000000d' };

    expect(decide(request('up'), moved, [route('sender')], CONTEXT).kind).toBe('stale');
  });

  it('treats an up issued at the same instant as the holder as current, not stale', () => {
    const holder = { ...(ledger('other-older') as VipRecord), upIssuedAt: T(30) };

    expect(decide(request('up'), holder, [route('other')], CONTEXT).kind).toBe('up');
  });
});

// The incarnations pgpool's process tree gives the agent (docs/design.md, Leadership).
const BOOT = '0f1e2d3c-4b5a-4968-8776-655443322110';
const elected = (watchdog: string, escalation: string): Incarnation => ({ bootId: BOOT, watchdog, escalation });
const reacquiring = (watchdog: string): Incarnation => ({ bootId: BOOT, watchdog, escalation: null });
const claim = (overrides: Partial<MemberClaim>): MemberClaim => ({ upIssuedAt: null, upIncarnation: null, downIssuedAt: null, ...overrides });

/**
 * OTHER's up (escalation under its watchdog 700@9000) took the VIP from SENDER at OTHER's T(20);
 * SENDER had held it since its own up at T(10), run by escalation 210@5100 under watchdog 200@5000.
 */
function displacedBy(overrides: Partial<VipRecord> = {}, senderClaim: Partial<MemberClaim> = {}): VipRecord {
  return {
    ...(ledger('other-older') as VipRecord),
    upIssuedAt: T(20),
    displacedInstanceId: SENDER.instanceId,
    displacedAt: T(20),
    members: {
      [SENDER.instanceId]: claim({ upIssuedAt: T(10), upIncarnation: elected('200@5000', '210@5100'), ...senderClaim }),
      [OTHER.instanceId]: claim({ upIssuedAt: T(20), upIncarnation: elected('700@9000', '710@9100') }),
    },
    ...overrides,
  };
}

type Row = [spec: string, record: VipRecord, request: SwitchoverRequest, context: DecisionContext, kind: 'up' | 'stale'];

// Who may take the VIP from whom. Each row: the situation, the VIP record, the request, the
// holder's state -> stale (refused, nothing changes) or up (the VIP moves to the sender).
const LEADERSHIP: Row[] = [
  [
    'refuses the displaced node re-acquiring the VIP from the same watchdog while the holder runs (the isolated old leader reacting to its fencing)',
    displacedBy(),
    request('up', { incarnation: reacquiring('200@5000') }),
    CONTEXT,
    'stale',
  ],
  [
    'moves the VIP to the displaced node when a new escalation runs its up (its watchdog won an election since)',
    displacedBy(),
    request('up', { incarnation: elected('200@5000', '230@8000') }),
    CONTEXT,
    'up',
  ],
  [
    'moves the VIP to the displaced node when its pgpool restarted since it was displaced (a new claimant), even within seconds',
    displacedBy(),
    request('up', { issuedAt: T(21), incarnation: elected('300@7000', '310@7100') }),
    CONTEXT,
    'up',
  ],
  [
    'moves the VIP to the displaced node re-acquiring from a watchdog that was not the one displaced (its new claim never reached the ledger)',
    displacedBy(),
    request('up', { incarnation: reacquiring('300@7000') }),
    CONTEXT,
    'up',
  ],
  [
    'moves the VIP to the displaced node re-acquiring after a reboot (another boot id: process start times do not compare)',
    displacedBy(),
    request('up', { incarnation: { bootId: '1f1e2d3c-4b5a-4968-8776-655443322110', watchdog: '200@5000', escalation: null } }),
    CONTEXT,
    'up',
  ],
  [
    'moves the VIP to the displaced node re-acquiring once the holder is no longer running',
    displacedBy(),
    request('up', { incarnation: reacquiring('200@5000') }),
    { holderRunning: false },
    'up',
  ],
  [
    'moves the VIP to the displaced node re-acquiring once the holder released it',
    displacedBy({ released: true, releasedAt: T(25) }),
    request('up', { incarnation: reacquiring('200@5000') }),
    CONTEXT,
    'up',
  ],
  [
    'moves the VIP to the displaced node when its request carries no incarnation (it cannot be told from a new claim, and a refused leader keeps no VIP)',
    displacedBy(),
    request('up'),
    CONTEXT,
    'up',
  ],
  [
    'moves the VIP to the displaced node when the up it was displaced in carried no incarnation',
    displacedBy({}, { upIncarnation: null }),
    request('up', { incarnation: reacquiring('200@5000') }),
    CONTEXT,
    'up',
  ],
  [
    'moves the VIP to a node that was not the one displaced, whatever it sends',
    displacedBy({ displacedInstanceId: THIRD.instanceId }),
    request('up', { incarnation: reacquiring('200@5000') }),
    CONTEXT,
    'up',
  ],
  [
    'moves the VIP to a node whose up is issued 6 s "before" the holder\'s by clocks, when the holder\'s clock runs 9 s fast',
    { ...(ledger('other-older') as VipRecord), upIssuedAt: T(39) },
    request('up', { issuedAt: T(33) }),
    CONTEXT,
    'up',
  ],
  [
    'moves the VIP to a node whose clock runs 9 s slow, 1 s after the holder took it',
    { ...(ledger('other-older') as VipRecord), upIssuedAt: T(30) },
    request('up', { issuedAt: T(22) }),
    CONTEXT,
    'up',
  ],
  [
    'refuses an up the sender issued before its own down that is already recorded (a delayed up after a resignation)',
    displacedBy({ displacedInstanceId: null, displacedAt: null }, { downIssuedAt: T(31) }),
    request('up', { incarnation: elected('200@5000', '230@8000') }),
    CONTEXT,
    'stale',
  ],
  [
    'refuses an up the sender issued before its own up that was already applied (a late duplicate)',
    displacedBy({}, { upIssuedAt: T(35) }),
    request('up', { incarnation: elected('200@5000', '210@5100') }),
    CONTEXT,
    'stale',
  ],
];

describe('Function: decide, leadership', () => {
  it.each(LEADERSHIP)('%s', (_spec, record, incoming, context, kind) => {
    // Act
    const plan = decide(incoming, record, [route('other')], context);

    // Assess
    expect(plan.kind).toBe(kind);
  });

  it('says why it refuses a re-acquire, and what lets the node take the VIP again', () => {
    const plan = decide(request('up', { incarnation: reacquiring('200@5000') }), displacedBy(), [route('other')], CONTEXT);

    expect(plan.kind === 'stale' && plan.reason).toBe(
      `${SENDER.instanceId} lost the VIP to ${OTHER.instanceId} at ${T(20)} and is re-acquiring it in the same leadership (same pgpool watchdog, no new escalation): two nodes claim to lead; it may take the VIP again with a new escalation, after a restart of pgpool, once it sent a down, or once ${OTHER.instanceId} stopped running; if ${OTHER.instanceId} releases the VIP first, it is handed to ${SENDER.instanceId}`,
    );
  });

  it('lifts the hold when the displaced node sends a down: it stopped claiming to lead', () => {
    const current = displacedBy();
    const down = decide(request('down', { issuedAt: T(31) }), current, [route('other')], CONTEXT);

    const next = nextVipRecord(down, { ...request('down', { issuedAt: T(31) }), cluster: 'demo', vip: '198.19.0.50' }, current, new Date(T(31)));

    expect(down).toMatchObject({ kind: 'down', outcome: 'noop', release: false, endsDisplacement: true });
    expect(next).toMatchObject({ holderInstanceId: OTHER.instanceId, displacedInstanceId: null, displacedAt: null, version: 4 });
    expect(decide(request('up', { issuedAt: T(32), incarnation: reacquiring('200@5000') }), next, [route('other')], CONTEXT).kind).toBe('up');
  });

  it('never holds a node for a time: the same re-acquire is refused an hour later while the holder runs', () => {
    const plan = decide(request('up', { issuedAt: T(3600), incarnation: reacquiring('200@5000') }), displacedBy(), [route('other')], CONTEXT);

    expect(plan.kind).toBe('stale');
  });
});

describe('Function: nextVipRecord', () => {
  const now = new Date(T(31));
  const target = { ...request('up'), cluster: 'demo', vip: '198.19.0.50' };

  it('makes the sender holder with the next version on up, and remembers its up and the holder\'s claim', () => {
    const current = ledger('other-older');
    const plan = decide(request('up'), current, [route('other')], CONTEXT);

    expect(nextVipRecord(plan, { ...target, incarnation: elected('200@5000', '210@5100') }, current, now)).toEqual({
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
      heldClaim: null,
      members: {
        [OTHER.instanceId]: claim({ upIssuedAt: T(10) }),
        [SENDER.instanceId]: claim({ upIssuedAt: T(30), upIncarnation: elected('200@5000', '210@5100') }),
      },
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
      members: { [SENDER.instanceId]: claim({ upIssuedAt: T(10), downIssuedAt: T(30) }) },
      version: 4,
    });
  });

  it('remembers a down from a node that is not the holder, and changes nothing else', () => {
    const current = ledger('other-older') as VipRecord;
    const plan = decide(request('down'), current, [route('other')], CONTEXT);

    expect(nextVipRecord(plan, { ...target, action: 'down' }, current, now)).toEqual({
      ...current,
      members: { [OTHER.instanceId]: claim({ upIssuedAt: T(10) }), [SENDER.instanceId]: claim({ downIssuedAt: T(30) }) },
      version: 4,
      updatedAt: now.toISOString(),
    });
  });

  it('writes nothing for a stale request', () => {
    const current = ledger('sender-newer');

    expect(nextVipRecord(decide(request('down'), current, [route('other')], CONTEXT), target, current, now)).toBeNull();
  });

  it('writes nothing for an earlier up of the holder\'s own: its later up already made the record', () => {
    const current = ledger('sender-newer');

    const plan = decide(request('up'), current, [route('other')], CONTEXT);

    expect(plan.kind).toBe('up');
    expect(nextVipRecord(plan, target, current, now)).toBeNull();
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

describe('Function: decide, handing the VIP to a held claimant', () => {
  const HELD_ID = '33333333-3333-4333-8333-333333333333';
  const now = new Date(T(40));
  const serving = (instanceId: string, eni: string): boolean => instanceId === SENDER.instanceId && eni === SENDER.eni;
  const context: DecisionContext = { holderRunning: true, canServe: serving };
  const reacquire = request('up', { requestId: HELD_ID, issuedAt: T(25), incarnation: reacquiring('200@5000') });
  /** OTHER displaced SENDER; SENDER's re-acquire at T(25) was held, and the ledger remembers it. */
  function held(overrides: Partial<VipRecord> = {}, senderClaim: Partial<MemberClaim> = {}): VipRecord {
    const current = displacedBy({}, senderClaim);
    const record = nextVipRecord(decide(reacquire, current, [route('other')], context), { ...reacquire, cluster: 'demo', vip: '198.19.0.50' }, current, new Date(T(26)));
    if (record === null) throw new Error('the held re-acquire wrote no record');
    return { ...record, ...overrides };
  }
  const withSenderDown = (record: VipRecord, downIssuedAt: string): VipRecord => ({
    ...record,
    members: { ...record.members, [SENDER.instanceId]: { ...claim({}), ...record.members?.[SENDER.instanceId], downIssuedAt } },
  });
  const holderDown = (issuedAt = T(38)): SwitchoverRequest => request('down', { ...OTHER, requestId: '44444444-4444-4444-8444-444444444444', issuedAt });

  it('remembers a held re-acquire in the VIP record, and changes nothing else', () => {
    const current = displacedBy();

    const record = nextVipRecord(decide(reacquire, current, [route('other')], context), { ...reacquire, cluster: 'demo', vip: '198.19.0.50' }, current, new Date(T(26)));

    expect(record).toEqual({
      ...current,
      heldClaim: { instanceId: SENDER.instanceId, eni: SENDER.eni, issuedAt: T(25), requestId: HELD_ID, incarnation: reacquiring('200@5000') },
      version: current.version + 1,
      updatedAt: T(26),
    });
  });

  it("hands the VIP to the held claimant when the holder releases it (pgpool's split brain resolved for the isolated old leader)", () => {
    const current = held();

    const plan = decide(holderDown(), current, [route('other')], context);
    const next = nextVipRecord(plan, { ...holderDown(), cluster: 'demo', vip: '198.19.0.50' }, current, now);

    expect(plan).toMatchObject({
      kind: 'down',
      outcome: 'applied',
      release: true,
      handoff: { claim: { instanceId: SENDER.instanceId, eni: SENDER.eni, requestId: HELD_ID }, routes: [{ before: OTHER.eni, change: 'replace' }] },
    });
    expect(next).toMatchObject({
      holderInstanceId: SENDER.instanceId,
      holderEni: SENDER.eni,
      upIssuedAt: T(25),
      upRequestId: HELD_ID,
      released: false,
      releasedAt: null,
      displacedInstanceId: null,
      heldClaim: null,
      version: current.version + 1,
    });
    expect(next?.members?.[SENDER.instanceId]).toEqual(claim({ upIssuedAt: T(25), upIncarnation: reacquiring('200@5000') }));
    expect(next?.members?.[OTHER.instanceId]?.downIssuedAt).toBe(T(38));
  });

  it('lets the claimant release what it was handed with its own later down', () => {
    const handed = nextVipRecord(decide(holderDown(), held(), [route('other')], context), { ...holderDown(), cluster: 'demo', vip: '198.19.0.50' }, held(), now);

    const plan = decide(request('down', { issuedAt: T(27) }), handed, [route('sender')], context);

    expect(plan).toMatchObject({ kind: 'down', outcome: 'applied', release: true, handoff: null });
  });

  const NO_HANDOFF: Array<[spec: string, record: () => VipRecord, incoming: () => SwitchoverRequest, context: DecisionContext]> = [
    ['not when the displaced node never re-acquired (a crashed pgpool that came back as a standby)', () => displacedBy(), () => holderDown(), context],
    ['not when the claimant sent a down after its held re-acquire (it stopped claiming to lead)', () => withSenderDown(held(), T(30)), () => holderDown(), context],
    ['not when the claimant no longer runs with that ENI', () => held(), () => holderDown(), { holderRunning: true, canServe: () => false }],
    ['not when the controller cannot tell who runs', () => held(), () => holderDown(), { holderRunning: true }],
    ['not on a down from a node that does not hold the VIP', () => held(), () => request('down', { ...THIRD, issuedAt: T(38) }), context],
    ["not on a holder's down that predates its hold (stale)", () => held(), () => holderDown(T(15)), context],
    ['not when the held node is no longer the one displaced', () => held({ displacedInstanceId: THIRD.instanceId }), () => holderDown(), context],
  ];

  it.each(NO_HANDOFF)('hands nothing over %s', (_spec, record, incoming, situation) => {
    const plan = decide(incoming(), record(), [route('other')], situation);

    expect(plan.kind === 'down' ? plan.handoff : null).toBeNull();
  });

  it("forgets the held re-acquire when the claimant's down lifts the displacement", () => {
    const current = held();
    const down = request('down', { issuedAt: T(30) });

    const next = nextVipRecord(decide(down, current, [route('other')], context), { ...down, cluster: 'demo', vip: '198.19.0.50' }, current, now);

    expect(next).toMatchObject({ holderInstanceId: OTHER.instanceId, displacedInstanceId: null, heldClaim: null });
  });

  it('forgets the held re-acquire when another node takes the VIP', () => {
    const current = held();
    const third = request('up', { ...THIRD, issuedAt: T(39) });

    const next = nextVipRecord(decide(third, current, [route('other')], context), { ...third, cluster: 'demo', vip: '198.19.0.50' }, current, now);

    expect(next).toMatchObject({ holderInstanceId: THIRD.instanceId, displacedInstanceId: OTHER.instanceId, heldClaim: null });
  });
});
