import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AwsCredentialIdentity } from '@smithy/types';

/** The facts one simulated instance's metadata service hands out. */
export interface ImdsInstance {
  instanceId: string;
  eni: string;
  mac: string;
  privateIp?: string;
  subnetId?: string;
  availabilityZone?: string;
  /** Instance-role credentials (moto AssumeRole with the instance id as session name). */
  credentials: AwsCredentialIdentity;
}

export interface ImdsServerOptions {
  instance: ImdsInstance;
  region: string;
  roleName: string;
  accountId?: string;
  vpcId?: string;
  /** Listen address; loopback unless a test namespace must reach it over its veth. */
  host?: string;
}

/** A local IMDSv2 on a free loopback port, for one instance. */
export interface ImdsServer {
  endpoint: string;
  port: number;
  /** `METHOD path status` of every request served, oldest first (tests count and inspect them). */
  readonly requests: readonly string[];
  stop(): Promise<void>;
}

const TOKEN_HEADER = 'x-aws-ec2-metadata-token';
const TOKEN_TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';

/**
 * Serves IMDSv2 like EC2 does for the parts the agent and the SDK's credential chain read:
 * a session token from PUT /latest/api/token is required on every GET (401 without it),
 * so an IMDSv1-only client fails here as it would on an instance with tokens required.
 * Point clients at it with AWS_EC2_METADATA_SERVICE_ENDPOINT.
 */
export async function startImdsServer(options: ImdsServerOptions): Promise<ImdsServer> {
  const tokens = new Map<string, number>();
  const requests: string[] = [];
  const server = createServer((request, response) => {
    const status = answer(request, response);
    requests.push(`${request.method ?? '?'} ${request.url ?? '?'} ${status}`);
  });

  function answer(request: IncomingMessage, response: ServerResponse): number {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    if (path === '/latest/api/token') {
      if (request.method !== 'PUT') return send(response, 405, 'Method Not Allowed');
      const ttl = Number(request.headers[TOKEN_TTL_HEADER]);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return send(response, 400, 'Bad Request');
      const token = randomBytes(24).toString('base64url');
      tokens.set(token, Date.now() + ttl * 1000);
      response.setHeader(TOKEN_TTL_HEADER, String(ttl));
      return send(response, 200, token);
    }
    if (request.method !== 'GET') return send(response, 405, 'Method Not Allowed');
    const token = request.headers[TOKEN_HEADER];
    const expiry = typeof token === 'string' ? tokens.get(token) : undefined;
    if (expiry === undefined || expiry < Date.now()) return send(response, 401, 'Unauthorized');
    const body = metadata(path, options);
    if (body === undefined) return send(response, 404, 'Not Found');
    return send(response, 200, body, path.includes('/dynamic/') || path.includes('security-credentials/') || path.endsWith('/iam/info'));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    requests,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function send(response: ServerResponse, status: number, body: string, json = false): number {
  response.writeHead(status, { 'content-type': json ? 'application/json' : 'text/plain' });
  response.end(body);
  return status;
}

/** The metadata tree, flattened to the paths we serve. */
function metadata(path: string, options: ImdsServerOptions): string | undefined {
  const { instance, region, roleName } = options;
  const zone = instance.availabilityZone ?? `${region}a`;
  const macPrefix = `/latest/meta-data/network/interfaces/macs/${instance.mac}/`;
  const flat: Record<string, string | undefined> = {
    '/latest/meta-data/instance-id': instance.instanceId,
    '/latest/meta-data/mac': instance.mac,
    '/latest/meta-data/local-ipv4': instance.privateIp,
    '/latest/meta-data/placement/region': region,
    '/latest/meta-data/placement/availability-zone': zone,
    '/latest/meta-data/network/interfaces/macs/': `${instance.mac}/`,
    [`${macPrefix}interface-id`]: instance.eni,
    [`${macPrefix}mac`]: instance.mac,
    [`${macPrefix}local-ipv4s`]: instance.privateIp,
    [`${macPrefix}subnet-id`]: instance.subnetId,
    [`${macPrefix}vpc-id`]: options.vpcId,
    '/latest/meta-data/iam/security-credentials/': roleName,
    [`/latest/meta-data/iam/security-credentials/${roleName}`]: JSON.stringify(credentialsDocument(instance.credentials)),
    '/latest/meta-data/iam/info': JSON.stringify({
      Code: 'Success',
      LastUpdated: new Date().toISOString(),
      InstanceProfileArn: `arn:aws:iam::${options.accountId ?? '123456789012'}:instance-profile/${roleName}`,
      InstanceProfileId: 'AIPAPGPOOLVIPLOCAL0001',
    }),
    '/latest/dynamic/instance-identity/document': JSON.stringify({
      accountId: options.accountId ?? '123456789012',
      architecture: 'x86_64',
      availabilityZone: zone,
      imageId: 'ami-12c6146b',
      instanceId: instance.instanceId,
      instanceType: 't3.micro',
      pendingTime: new Date().toISOString(),
      privateIp: instance.privateIp ?? null,
      region,
      version: '2017-09-30',
    }),
  };
  return flat[path];
}

/** The JSON shape EC2 serves for role credentials, which the SDK's IMDS provider parses. */
function credentialsDocument(credentials: AwsCredentialIdentity): Record<string, string> {
  return {
    Code: 'Success',
    LastUpdated: new Date().toISOString(),
    Type: 'AWS-HMAC',
    AccessKeyId: credentials.accessKeyId,
    SecretAccessKey: credentials.secretAccessKey,
    Token: credentials.sessionToken ?? '',
    Expiration: (credentials.expiration ?? new Date(Date.now() + 3600_000)).toISOString(),
  };
}
