import { describe, expect, it } from 'vitest';
import { AgentConfigSchema } from '../../agent/config.ts';
import { hasNetAdmin, planLocalAddress, refusedBeforeRoute, type LocalHost } from '../../agent/local-address.ts';

/** A /proc/self/status with the given effective set (the other lines as the kernel writes them). */
const status = (capEff: string): string =>
  `Name:\tnode\nUmask:\t0022\nCapInh:\t0000000000000000\nCapPrm:\t${capEff}\nCapEff:\t${capEff}\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n`;

describe('Function: hasNetAdmin', () => {
  it.each([
    ['root with every capability', '000001ffffffffff', true],
    ['only CAP_NET_ADMIN (bit 12), as AmbientCapabilities gives pgpool', '0000000000001000', true],
    ['CAP_NET_ADMIN among others', '0000000000003400', true],
    ['no capability (postgres without the drop-in)', '0000000000000000', false],
    ['CAP_NET_RAW (bit 13) and CAP_NET_BIND_SERVICE (bit 10) but not CAP_NET_ADMIN', '0000000000002400', false],
    ['root whose bounding set dropped CAP_NET_ADMIN', '000001ffffffefff', false],
  ])('reads %s from CapEff', (_what, capEff, expected) => {
    expect(hasNetAdmin(status(capEff))).toBe(expected);
  });

  it('looks at CapEff only, not at the permitted or ambient sets', () => {
    expect(hasNetAdmin('CapPrm:\t0000000000001000\nCapEff:\t0000000000000000\nCapAmb:\t0000000000001000\n')).toBe(false);
  });

  it.each([[''], ['CapEff:\tnot-hex\n'], ['Name:\tnode\n']])('counts a status without a readable CapEff (%j) as no capability', (text) => {
    expect(hasNetAdmin(text)).toBe(false);
  });
});

describe('Function: planLocalAddress', () => {
  const capable: LocalHost = { netAdmin: true, ipPath: '/usr/sbin/ip', present: false };

  it('adds the VIP itself when configured, for up, with CAP_NET_ADMIN and ip', () => {
    expect(planLocalAddress({ enabled: true, action: 'up', reacquire: false, host: capable })).toEqual({ kind: 'add', ipPath: '/usr/sbin/ip' });
  });

  it('leaves it to SSM, silently, when not configured (the default) or on down', () => {
    expect(planLocalAddress({ enabled: false, action: 'up', reacquire: false, host: capable })).toEqual({ kind: 'ssm', why: null });
    expect(planLocalAddress({ enabled: true, action: 'down', reacquire: false, host: capable })).toEqual({ kind: 'ssm', why: null });
  });

  it('leaves it to SSM, saying why, when configured but without the capability or without ip', () => {
    expect(planLocalAddress({ enabled: true, action: 'up', reacquire: false, host: { ...capable, netAdmin: false } })).toEqual({
      kind: 'ssm',
      why: 'this process lacks CAP_NET_ADMIN (CapEff in /proc/self/status)',
    });
    expect(planLocalAddress({ enabled: true, action: 'up', reacquire: false, host: { ...capable, ipPath: null } })).toEqual({
      kind: 'ssm',
      why: 'no ip command at /usr/sbin/ip, /sbin/ip, /usr/bin/ip, /bin/ip',
    });
  });

  it("leaves a watchdog's re-acquire to SSM: its refusal must not make the VIP vanish again and re-run the command", () => {
    expect(planLocalAddress({ enabled: true, action: 'up', reacquire: true, host: capable })).toEqual({ kind: 'ssm', why: null });
  });

  it('adds nothing when the VIP is already on the interface, so a refusal removes nothing', () => {
    expect(planLocalAddress({ enabled: true, action: 'up', reacquire: false, host: { ...capable, present: true } })).toEqual({ kind: 'present' });
  });

  it('never claims the VIP is there without the capability, even when it is', () => {
    expect(planLocalAddress({ enabled: true, action: 'up', reacquire: false, host: { netAdmin: false, ipPath: '/usr/sbin/ip', present: true } }).kind).toBe('ssm');
  });
});

describe('Function: refusedBeforeRoute', () => {
  it.each([
    [{ status: 'rejected', failedStep: 'validate' }, true],
    [{ status: 'rejected', failedStep: 'verify' }, true],
    [{ status: 'stale', failedStep: null }, true],
    [{ status: 'failed', failedStep: 'claim' }, true],
    [{ status: 'failed', failedStep: 'read' }, true],
    [{ status: 'failed', failedStep: 'source-dest-check' }, true],
  ])('takes the VIP back after %j: no route points at this node', (outcome, expected) => {
    expect(refusedBeforeRoute(outcome)).toBe(expected);
  });

  it.each([
    [{ status: 'failed', failedStep: 'route' }],
    [{ status: 'failed', failedStep: 'ssm-remove' }],
    [{ status: 'failed', failedStep: 'ledger' }],
    [{ status: 'failed', failedStep: 'unexpected' }],
    [{ status: 'failed', failedStep: null }],
    [{ status: 'applied', failedStep: null }],
    [{ status: 'noop', failedStep: null }],
  ])('keeps it after %j: some table may already send the VIP here', (outcome) => {
    expect(refusedBeforeRoute(outcome)).toBe(false);
  });
});

describe('Function: AgentConfigSchema localAddress', () => {
  it('is off unless the config turns it on, and must be a boolean', () => {
    expect(AgentConfigSchema.parse({ cluster: 'main', vip: '198.19.0.50' }).localAddress).toBe(false);
    expect(AgentConfigSchema.parse({ cluster: 'main', vip: '198.19.0.50', localAddress: true }).localAddress).toBe(true);
    expect(AgentConfigSchema.safeParse({ cluster: 'main', vip: '198.19.0.50', localAddress: 'yes' }).success).toBe(false);
  });
});
