import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentIo } from '../../agent/io.ts';
import { main } from '../../agent/main.ts';
import { counted, printCounts } from './catalog.ts';

// Hostile inputs on the node's side: the command line pgpool builds, the config file, and the
// instance metadata service's answers. Each ends the command with its own reason and exit code
// before anything is sent to AWS: no request reaches the ledger, so no route write, no SSM
// command and no outcome record can follow (asserted as zero requests to the AWS endpoint).

type Answer = (request: IncomingMessage, response: ServerResponse) => void;
let imdsMode: Record<string, Answer> = {};
let awsRequests = 0;
let elsewhereRequests: string[] = [];
let imds: Server;
let aws: Server;
let elsewhere: Server;
let dir: string;
const port = (server: Server): number => (server.address() as AddressInfo).port;

const IDENTITY = { instanceId: 'i-0a632a8349b701357', region: 'us-east-1', eni: 'eni-0f1e2d3c4b5a69788', mac: '0a:00:c6:12:01:0a' };
const text = (body: string, status = 200): Answer => (_, response) => {
  response.writeHead(status, { 'content-type': 'text/plain' });
  response.end(body);
};
const NORMAL: Record<string, Answer> = {
  'PUT /latest/api/token': text('token-of-the-test'),
  'GET /latest/meta-data/instance-id': text(IDENTITY.instanceId),
  'GET /latest/meta-data/placement/region': text(IDENTITY.region),
  [`GET /latest/meta-data/network/interfaces/macs/${IDENTITY.mac}/interface-id`]: text(IDENTITY.eni),
};

async function listen(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

let goodConfig: string;
const CONFIG = { cluster: 'main', vip: '198.19.0.50', ledgerTable: 'pgpool-vip-ledger', checkInterface: false, interfaceMac: IDENTITY.mac, deadlineSeconds: 20 };
async function file(name: string, content: string, mode = 0o644): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  await chmod(path, mode);
  return path;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgpool-vip-hostile-'));
  imds = await listen((request, response) => {
    const answer = imdsMode[`${request.method} ${request.url}`] ?? NORMAL[`${request.method} ${request.url}`] ?? text('', 404);
    answer(request, response);
  });
  aws = await listen((_, response) => {
    awsRequests += 1;
    response.writeHead(500);
    response.end();
  });
  elsewhere = await listen((request, response) => {
    elsewhereRequests.push(`${request.method} ${request.url} token=${String(request.headers['x-aws-ec2-metadata-token'])}`);
    response.end(IDENTITY.instanceId);
  });
  goodConfig = await file('agent.json', JSON.stringify(CONFIG));
});
afterAll(async () => {
  printCounts('agent');
  await Promise.all([imds, aws, elsewhere].map((server) => new Promise((resolve) => server?.close(resolve))));
  await rm(dir, { recursive: true, force: true });
});

async function run(argv: string[], configPath = goodConfig) {
  const stderr: string[] = [];
  const io: AgentIo = {
    stdout: () => undefined,
    stderr: (line) => stderr.push(line),
    env: {
      PGPOOL_VIP_AGENT_CONFIG: configPath,
      AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://127.0.0.1:${port(imds)}`,
      AWS_ENDPOINT_URL: `http://127.0.0.1:${port(aws)}`,
      AWS_ACCESS_KEY_ID: 'AKIAHOSTILETEST00000',
      AWS_SECRET_ACCESS_KEY: 'hostile',
      AWS_REGION: 'us-east-1',
    },
  };
  return { code: await main(argv, io), stderr };
}

interface AgentCase {
  category: 'agent inputs';
  name: string;
  argv?: string[];
  config?: () => Promise<string>;
  imds?: Record<string, Answer>;
  code: number;
  reason: string | RegExp | ((config: string) => string);
}
const UP = ['up', '198.19.0.50', 'lo'];
const configWith = (name: string, change: Record<string, unknown>) => () => file(name, JSON.stringify({ ...CONFIG, ...change }));
const TOKEN = 'PUT /latest/api/token';
const INSTANCE = 'GET /latest/meta-data/instance-id';
const REGION = 'GET /latest/meta-data/placement/region';
const ENI = `GET /latest/meta-data/network/interfaces/macs/${IDENTITY.mac}/interface-id`;
const imdsAt = (): string => `http://127.0.0.1:${port(imds)}`;

const cases = counted<AgentCase>([
  // The command line.
  { category: 'agent inputs', name: 'VIP out of range', argv: ['up', '198.19.0.500', 'lo'], code: 2, reason: "pgpool-vip: VIP '198.19.0.500' is not a dotted IPv4 address" },
  { category: 'agent inputs', name: 'VIP not the configured one', argv: ['up', '198.19.0.51', 'lo'], code: 2, reason: /^pgpool-vip: VIP 198\.19\.0\.51 is not the VIP of cluster main/ },
  { category: 'agent inputs', name: 'interface with a shell metacharacter', argv: ['up', '198.19.0.50', 'eth0;id'], code: 2, reason: /^pgpool-vip: .*eth0;id/ },
  { category: 'agent inputs', name: 'interface that is not on the host', argv: ['up', '198.19.0.50', 'nosuch0'], code: 2, reason: /^pgpool-vip: no interface 'nosuch0' on this host/ },
  { category: 'agent inputs', name: 'an extra argument', argv: ['up', '198.19.0.50', 'lo', 'extra'], code: 2, reason: "pgpool-vip: up: unexpected argument 'extra'" },
  { category: 'agent inputs', name: 'an unknown command', argv: ['flip', '198.19.0.50', 'lo'], code: 2, reason: /^pgpool-vip: .*flip/ },
  // The config file.
  { category: 'agent inputs', name: 'config is a FIFO', config: () => { const p = join(dir, 'fifo.json'); execFileSync('mkfifo', [p]); return Promise.resolve(p); }, code: 2, reason: (p) => `pgpool-vip: config ${p} is not a regular file (it is a FIFO)` },
  { category: 'agent inputs', name: 'config is a directory', config: () => Promise.resolve(dir), code: 2, reason: (p) => `pgpool-vip: config ${p} is not a regular file (it is a directory)` },
  { category: 'agent inputs', name: 'config is /dev/zero', config: () => Promise.resolve('/dev/zero'), code: 2, reason: 'pgpool-vip: config /dev/zero is not a regular file (it is a character device)' },
  { category: 'agent inputs', name: 'config of 1 MB', config: () => file('big.json', ' '.repeat(1 << 20)), code: 2, reason: (p) => `pgpool-vip: config ${p} is 1048576 bytes; a config is at most 65536 bytes` },
  { category: 'agent inputs', name: 'config is not JSON', config: () => file('bad.json', '{"cluster":'), code: 2, reason: /^pgpool-vip: config \S+ is not valid JSON/ },
  { category: 'agent inputs', name: 'config with an unknown field', config: configWith('unknown.json', { endpoint: 'https://attacker.example' }), code: 2, reason: (p) => `pgpool-vip: config ${p}: unknown field endpoint` },
  { category: 'agent inputs', name: 'config region with a command', config: configWith('region.json', { region: 'us-east-1; rm -rf /' }), code: 2, reason: (p) => `pgpool-vip: config ${p}: region must be an AWS region like eu-west-1` },
  { category: 'agent inputs', name: 'config bus with spaces', config: configWith('bus.json', { bus: 'pgpool vip' }), code: 2, reason: (p) => `pgpool-vip: config ${p}: bus must be an event bus name or ARN` },
  { category: 'agent inputs', name: 'config VIP with a line break', config: configWith('vip.json', { vip: '198.19.0.50\n' }), code: 2, reason: (p) => `pgpool-vip: config ${p}: vip must be a dotted IPv4 address` },
  { category: 'agent inputs', name: 'config deadline of 0 s', config: configWith('deadline.json', { deadlineSeconds: 0 }), code: 2, reason: (p) => `pgpool-vip: config ${p}: deadlineSeconds Number must be greater than or equal to 1` },
  // The instance metadata service's answers.
  { category: 'agent inputs', name: 'IMDS redirects to another host', imds: { [INSTANCE]: (_, r) => { r.writeHead(302, { location: `http://127.0.0.1:${port(elsewhere)}/latest/meta-data/instance-id` }); r.end(); } }, code: 1, reason: () => `pgpool-vip: IMDS answered a redirect (HTTP 302) to GET meta-data/instance-id at ${imdsAt()}; redirects are not followed` },
  { category: 'agent inputs', name: 'IMDS answers 8 MB for the instance id', imds: { [INSTANCE]: text('i'.repeat(8 << 20)) }, code: 1, reason: /^pgpool-vip: IMDS unreachable at \S+ \(GET meta-data\/instance-id\): .*answer larger than 65536 bytes/ },
  { category: 'agent inputs', name: 'IMDS answers 1 MB for the token', imds: { [TOKEN]: text('t'.repeat(1 << 20)) }, code: 1, reason: /^pgpool-vip: IMDS unreachable at \S+ \(PUT api\/token\): .*answer larger than 65536 bytes/ },
  { category: 'agent inputs', name: 'IMDS region is a path', imds: { [REGION]: text('../../evil') }, code: 1, reason: 'pgpool-vip: IMDS answered an unexpected placement/region: "../../evil"' },
  { category: 'agent inputs', name: 'IMDS region with markup', imds: { [REGION]: text('<script>x</script>') }, code: 1, reason: 'pgpool-vip: IMDS answered an unexpected placement/region: "\\u003cscript\\u003ex\\u003c/script\\u003e"' },
  { category: 'agent inputs', name: 'IMDS region of another partition shape', imds: { [REGION]: text('us-east-1.attacker.example') }, code: 1, reason: 'pgpool-vip: IMDS answered an unexpected placement/region: "us-east-1.attacker.example"' },
  { category: 'agent inputs', name: 'IMDS instance id with a command', imds: { [INSTANCE]: text('i-0a63; reboot') }, code: 1, reason: 'pgpool-vip: IMDS answered an unexpected instance-id: "i-0a63; reboot"' },
  { category: 'agent inputs', name: 'IMDS ENI id that is not one', imds: { [ENI]: text('eni-<x>') }, code: 1, reason: `pgpool-vip: IMDS answered an unexpected network/interfaces/macs/${IDENTITY.mac}/interface-id: "eni-\\u003cx\\u003e"` },
  { category: 'agent inputs', name: 'IMDS knows no such MAC', imds: { [ENI]: text('', 404) }, code: 2, reason: `pgpool-vip: IMDS knows no network interface with MAC ${IDENTITY.mac} (lo): is lo an ENI of this instance?` },
  { category: 'agent inputs', name: 'IMDS refuses the token', imds: { [TOKEN]: text('', 403) }, code: 1, reason: /^pgpool-vip: IMDS answered HTTP 403 to PUT api\/token/ },
]);

describe('Hostile catalog: the agent on the node', () => {
  it.each(cases.map((c) => [c.name, c] as const))('agent inputs: %s', async (_, c) => {
    const configPath = c.config === undefined ? goodConfig : await c.config();
    imdsMode = c.imds ?? {};
    awsRequests = 0;
    elsewhereRequests = [];

    const result = await run(c.argv ?? UP, configPath);

    const reason = typeof c.reason === 'function' ? c.reason(configPath) : c.reason;
    expect(result.code).toBe(c.code);
    if (typeof reason === 'string') expect(result.stderr.at(-1)).toBe(reason);
    else expect(result.stderr.at(-1)).toMatch(reason);
    expect(awsRequests).toBe(0);
    expect(elsewhereRequests).toEqual([]);
  });
});
