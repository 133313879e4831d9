import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AUDIT_HELP } from '../../agent/audit-command.ts';
import { COMMAND_HELP, HELP_TEXT } from '../../agent/help.ts';
import { main } from '../../agent/main.ts';
import type { AgentIo } from '../../agent/io.ts';
import { AGENT_VERSION } from '../../agent/version.ts';

// Every endpoint the agent could talk to points at this server: a request counted here is
// something sent, and bad arguments or config must send nothing.
let witness: Server;
let hits: string[] = [];
let endpoint = '';
let dir = '';
let goodConfig = '';

beforeAll(async () => {
  witness = createServer((request, response) => {
    hits.push(`${request.method} ${request.url}`);
    response.writeHead(500).end();
  });
  await new Promise<void>((resolve) => witness.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(witness.address() as AddressInfo).port}`;
  dir = await mkdtemp(join(tmpdir(), 'pgpool-vip-cli-'));
  goodConfig = join(dir, 'agent.json');
  await writeFile(goodConfig, JSON.stringify({ cluster: 'main', vip: '198.19.0.50', ledgerTable: 'pgpool-vip-ledger' }));
});
afterAll(async () => {
  witness.closeAllConnections();
  await new Promise((resolve) => witness.close(resolve));
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  hits = [];
});

async function run(argv: string[], env: Record<string, string> = {}) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const io: AgentIo = {
    stdout: (line) => stdout.push(line),
    stderr: (line) => stderr.push(line),
    env: {
      AWS_EC2_METADATA_SERVICE_ENDPOINT: endpoint,
      AWS_ENDPOINT_URL: endpoint,
      PGPOOL_VIP_AGENT_CONFIG: goodConfig,
      ...env,
    },
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

async function configFile(name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

describe('Function: main (pgpool-vip command line)', () => {
  it.each(['up', 'down', 'status', 'doctor'] as const)('prints the help of %s alone with COMMAND --help', async (command) => {
    const result = await run([command, '--help']);

    expect(result).toEqual({ code: 0, stdout: [COMMAND_HELP[command]], stderr: [] });
    expect(COMMAND_HELP[command]).toMatch(new RegExp(`^Usage: pgpool-vip ${command} `));
  });

  it.each(['up', 'down'] as const)('lists --dry-run and --json in the help of %s and in the general help', (command) => {
    expect(COMMAND_HELP[command]).toContain(`pgpool-vip ${command} VIP IFACE --dry-run [--json]`);
    expect(COMMAND_HELP[command]).toMatch(/--dry-run {16}ask for the controller's plan only; nothing is changed/);
    expect(COMMAND_HELP[command]).toMatch(/--json {19}with --dry-run: the plan as one JSON document on stdout/);
    expect(HELP_TEXT).toMatch(/--dry-run {16}up\/down: /);
  });

  it('prints the help on stdout and exits 0', async () => {
    // Act
    const result = await run(['--help']);
    // Assess
    expect(result).toEqual({ code: 0, stdout: [HELP_TEXT], stderr: [] });
    expect(HELP_TEXT).toContain("if_up_cmd = '/usr/local/bin/pgpool-vip up $_IP_$ ens5'");
    expect(hits).toEqual([]);
  });

  it('hands `audit` to the audit command, which prints its own help and sends nothing', async () => {
    const result = await run(['audit', '--help']);

    expect(result).toEqual({ code: 0, stdout: [AUDIT_HELP], stderr: [] });
    expect(HELP_TEXT).toContain('pgpool-vip audit');
    expect(hits).toEqual([]);
  });

  it('prints the version on stdout and exits 0', async () => {
    const result = await run(['--version']);

    expect(result).toEqual({ code: 0, stdout: [`pgpool-vip ${AGENT_VERSION}`], stderr: [] });
    expect(AGENT_VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });

  it.each([
    [[], 'pgpool-vip: missing command (up, down, status, doctor, audit); see pgpool-vip --help'],
    [['move', '198.19.0.50', 'eth0'], "pgpool-vip: unknown command 'move' (up, down, status, doctor, audit); see pgpool-vip --help"],
    [['up'], 'pgpool-vip: up needs VIP and IFACE: pgpool-vip up VIP IFACE'],
    [['down', '198.19.0.50'], 'pgpool-vip: down needs VIP and IFACE: pgpool-vip down VIP IFACE'],
    [['up', '198.19.0.50', 'eth0', 'extra'], "pgpool-vip: up: unexpected argument 'extra'"],
    [['up', '198.19.0.256', 'eth0'], "pgpool-vip: VIP '198.19.0.256' is not a dotted IPv4 address"],
    [['up', '$_IP_$', 'eth0'], "pgpool-vip: VIP '$_IP_$' is not a dotted IPv4 address"],
    [['up', '198.19.0.50', 'eth0;reboot'], "pgpool-vip: IFACE 'eth0;reboot' is not a Linux interface name"],
    [['up', '198.19.0.50', 'averyverylongname0'], "pgpool-vip: IFACE 'averyverylongname0' is not a Linux interface name"],
    [['up', '198.19.0.50', 'eth0', '--force'], "pgpool-vip: unknown option '--force'; see pgpool-vip --help"],
    [['up', '198.19.0.50', 'eth0', '--config'], "pgpool-vip: option '--config' needs a value"],
    [['up', '198.19.0.50', 'eth0', '--config='], 'pgpool-vip: --config needs a file path'],
    [['status', '--no-interface-check'], 'pgpool-vip: --no-interface-check applies to up and down, not status'],
    [['up', '198.19.0.50', 'eth0', '--json'], 'pgpool-vip: --json applies to up only with --dry-run; see pgpool-vip up --help'],
    [['down', '198.19.0.50', 'eth0', '--dry-run', '--no-interface-check'], 'pgpool-vip: --no-interface-check does not apply to a dry run: it never waits for the interface'],
    [['status', '--dry-run'], 'pgpool-vip: --dry-run applies to up and down, not status'],
    [['doctor', '--dry-run'], 'pgpool-vip: --dry-run applies to up and down, not doctor'],
    [['up', '198.19.0.50', 'eth0', '--dry-run=yes'], "pgpool-vip: option '--dry-run' takes no value"],
    [['status', '--pgpool-conf', '/etc/pgpool-II/pgpool.conf'], 'pgpool-vip: --pgpool-conf does not apply to status; see pgpool-vip status --help'],
    [['doctor', '--pgpool-version', '4.7'], 'pgpool-vip: --pgpool-version goes with --pgpool-conf FILE'],
    [['doctor', '--pgpool-conf', 'p.conf', '--pgpool-version', 'four'], "pgpool-vip: --pgpool-version 'four' is not a version like 4.7 or 4.3.5"],
    [['doctor', 'eth0', 'eth1'], "pgpool-vip: doctor: unexpected argument 'eth1'"],
  ])('exits 2 and sends nothing for %j', async (argv, message) => {
    const result = await run(argv);

    expect(result).toEqual({ code: 2, stdout: [], stderr: [message] });
    expect(hits).toEqual([]);
  });

  it('exits 2 and sends nothing when the VIP is not the configured cluster VIP', async () => {
    const result = await run(['up', '198.19.0.51', 'lo']);

    expect(result).toEqual({
      code: 2,
      stdout: [],
      stderr: [`pgpool-vip: VIP 198.19.0.51 is not the VIP of cluster main (198.19.0.50 in ${goodConfig}); check delegate_ip in pgpool.conf (delegate_IP up to pgpool 4.3)`],
    });
    expect(hits).toEqual([]);
  });

  it('exits 2 and sends nothing when the interface does not exist on this host', async () => {
    const result = await run(['down', '198.19.0.50', 'pgvipnone0']);

    expect(result).toEqual({
      code: 2,
      stdout: [],
      stderr: ["pgpool-vip: no interface 'pgvipnone0' on this host (/sys/class/net/pgvipnone0 is missing)"],
    });
    expect(hits).toEqual([]);
  });

  it('exits 2 and sends nothing when the test-only MAC override is not a MAC', async () => {
    const result = await run(['up', '198.19.0.50', 'lo'], { PGPOOL_VIP_INTERFACE_MAC: 'not-a-mac' });

    expect(result).toEqual({ code: 2, stdout: [], stderr: ["pgpool-vip: PGPOOL_VIP_INTERFACE_MAC 'not-a-mac' is not a MAC address"] });
    expect(hits).toEqual([]);
  });

  it('names a missing config file, from --config before the environment variable', async () => {
    const missing = join(dir, 'missing.json');

    const result = await run(['up', '198.19.0.50', 'lo', '--config', missing]);

    expect(result).toEqual({ code: 2, stdout: [], stderr: [`pgpool-vip: config ${missing} does not exist`] });
    expect(hits).toEqual([]);
  });

  it('reads the config path from PGPOOL_VIP_AGENT_CONFIG when --config is absent', async () => {
    const missing = join(dir, 'from-env.json');

    const result = await run(['status'], { PGPOOL_VIP_AGENT_CONFIG: missing });

    expect(result.stderr).toEqual([`pgpool-vip: config ${missing} does not exist`]);
    expect(result.code).toBe(2);
  });

  it.each([
    ['unreadable.json', null, 'is not a regular file (it is a directory)'],
    ['broken.json', '{"cluster": "main",', 'is not valid JSON: '],
    ['no-cluster.json', '{"vip":"198.19.0.50"}', ': cluster is required'],
    ['bad-vip.json', '{"cluster":"main","vip":"198.19.0.500","ledgerTable":"t-1"}', ': vip must be a dotted IPv4 address'],
    [
      'bad-deadline.json',
      '{"cluster":"main","vip":"198.19.0.50","ledgerTable":"t-1","deadlineSeconds":"30"}',
      ': deadlineSeconds Expected number, received string',
    ],
    ['typo.json', '{"cluster":"main","vip":"198.19.0.50","ledgerTable":"t-1","buss":"x"}', ': unknown field buss'],
    [
      'bad-table.json',
      '{"cluster":"main","vip":"198.19.0.50","ledgerTable":"t-1","routeTables":["rtb-1"]}',
      ': routeTables[0] must be a route table id (rtb-...)',
    ],
  ])('exits 2 naming the problem of config %s, sending nothing', async (name, content, problem) => {
    const path = content === null ? dir : await configFile(name, content);

    const result = await run(['up', '198.19.0.50', 'lo', '--config', path]);

    expect(result.code).toBe(2);
    expect(result.stdout).toEqual([]);
    expect(result.stderr).toHaveLength(1);
    expect(result.stderr[0]).toContain(`pgpool-vip: config ${path}${problem.startsWith(':') ? '' : ' '}${problem}`);
    expect(hits).toEqual([]);
  });
});
