import { describe, expect, it } from 'vitest';
import { checkPgpoolConf, parsePgpoolConf, parsePgpoolVersion, type FileProbe } from '../../agent/pgpool-conf.ts';

const AGENT = '/usr/local/bin/pgpool-vip';
// The host as the checks see it: these files exist and are executable, nothing else does.
const ON_HOST = ['/usr/local/bin/pgpool-vip', '/usr/bin/true', '/usr/bin/node'];
const files: FileProbe = {
  executable: (path) => Promise.resolve(ON_HOST.includes(path) ? path : undefined),
  existing: (path) => Promise.resolve(ON_HOST.includes(path) ? path : undefined),
};
const v = (text: string) => parsePgpoolVersion(text) ?? { major: 0, minor: 0, text };
const GOOD = `
# pgpool.conf excerpt
use_watchdog = on
delegate_ip = '198.19.0.50'
if_up_cmd = '/usr/local/bin/pgpool-vip up $_IP_$ ens5'
if_down_cmd = '/usr/local/bin/pgpool-vip down $_IP_$ ens5'
arping_cmd = '/usr/bin/true'
wd_escalation_command = ''
`;

async function check(text: string, version = '4.7.2') {
  const results = await checkPgpoolConf(parsePgpoolConf(text), { path: 'pgpool.conf', version: v(version), vip: '198.19.0.50', iface: 'ens5', agentPath: AGENT }, files);
  return Object.fromEntries(results.map((result) => [result.check, result]));
}

describe('Function: parsePgpoolConf', () => {
  it('reads quoted and bare values, skips comments, and lets the last line win as pgpool does', () => {
    const settings = parsePgpoolConf("a = 'x y' # note\n#b = 'z'\nc = on\na = 'w'\nd='it''s'\n");

    expect([...settings]).toEqual([
      ['a', 'w'],
      ['c', 'on'],
      ['d', "it's"],
    ]);
  });
});

describe('Function: checkPgpoolConf (doctor --pgpool-conf)', () => {
  it('passes the documented lines on 4.7 and the delegate_IP spelling on 4.3', async () => {
    const modern = await check(GOOD);
    const old = await check(GOOD.replace('delegate_ip', 'delegate_IP'), '4.3.5');

    expect(Object.values(modern).filter((result) => !result.ok)).toEqual([]);
    expect(Object.values(old).filter((result) => !result.ok)).toEqual([]);
    expect(modern['pgpool.conf VIP']?.text).toBe("delegate_ip = '198.19.0.50' (Pgpool-II 4.4 and later)");
    expect(old['pgpool.conf VIP']?.text).toBe("delegate_IP = '198.19.0.50' (Pgpool-II 4.3)");
  });

  it('asks for the spelling of the version: delegate_ip on 4.4+, delegate_IP on 4.3', async () => {
    const upper = (await check(GOOD.replace('delegate_ip', 'delegate_IP')))['pgpool.conf VIP'];
    expect(upper?.ok).toBe(false);
    expect(upper?.text).toContain("write delegate_ip = '198.19.0.50'");
    expect((await check(GOOD, '4.3.5'))['pgpool.conf VIP']).toMatchObject({
      ok: false,
      text: "Pgpool-II 4.3.5 does not know delegate_ip (an unrecognized parameter: no VIP is ever brought up): write delegate_IP = '198.19.0.50'",
    });
    expect((await check(GOOD.replace("'198.19.0.50'", "'198.19.0.51'")))['pgpool.conf VIP']?.ok).toBe(false);
  });

  it('catches a wrong if_down_cmd path, which pgpool counts as success', async () => {
    const result = (await check(GOOD.replace("if_down_cmd = '/usr/local/bin/pgpool-vip", "if_down_cmd = '/usr/local/sbin/pgpool-vip")))['pgpool.conf if_down_cmd'];

    expect(result).toEqual({
      check: 'pgpool.conf if_down_cmd',
      ok: false,
      text: "/usr/local/sbin/pgpool-vip does not exist or is not executable: pgpool would count the failed execv as success (its child exits 0); write if_down_cmd = '/usr/local/bin/pgpool-vip down $_IP_$ ens5'",
    });
  });

  it('refuses relative commands, other programs and wrong arguments, and accepts node naming the agent', async () => {
    expect((await check(GOOD.replace("'/usr/local/bin/pgpool-vip up", "'pgpool-vip up")))['pgpool.conf if_up_cmd']?.text).toMatch(/^'pgpool-vip' is not an absolute path: pgpool joins it to if_cmd_path/);
    expect((await check(GOOD.replace("'/usr/local/bin/pgpool-vip up", "'/usr/bin/true up")))['pgpool.conf if_up_cmd']?.text).toMatch(/^runs \/usr\/bin\/true, not this agent/);
    expect((await check(GOOD.replace('up $_IP_$ ens5', 'down $_IP_$ ens5')))['pgpool.conf if_up_cmd']?.text).toMatch(/^arguments 'down \$_IP_\$ ens5' are not 'up \$_IP_\$ IFACE'/);
    expect((await check(GOOD.replace("'/usr/local/bin/pgpool-vip up", "'/usr/bin/node /usr/local/bin/pgpool-vip up")))['pgpool.conf if_up_cmd']?.ok).toBe(true);
  });

  it('wants an absolute arping_cmd and empty escalation commands', async () => {
    const relative = await check(GOOD.replace("arping_cmd = '/usr/bin/true'", "arping_cmd = 'true'"));
    const escalating = await check(`${GOOD}wd_escalation_command = '/etc/pgpool-II/escalation.sh'\n`);

    expect(relative['pgpool.conf arping_cmd']?.text).toMatch(/^'true' is relative: pgpool joins it to arping_path/);
    expect(escalating['pgpool.conf escalation']).toMatchObject({ ok: false, text: 'wd_escalation_command is set: empty it; the agent is the only thing that may move the VIP' });
  });

  it('names versions outside 4.3 to 4.7', async () => {
    expect((await check(GOOD, '4.2.15'))['pgpool version']?.ok).toBe(false);
    expect((await check(GOOD, '4.7.2'))['pgpool version']).toEqual({ check: 'pgpool version', ok: true, text: 'Pgpool-II 4.7.2 (supported: 4.3 to 4.7)' });
  });
});
