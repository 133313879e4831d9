import { fromInstanceMetadata } from '@aws-sdk/credential-providers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveCredentials } from '../../agent/credentials.ts';
import { Deadline } from '../../agent/deadline.ts';
import { UsageError } from '../../agent/errors.ts';
import { readNodeIdentity } from '../../agent/identity.ts';
import { InstanceMetadata, InstanceMetadataError, imdsEndpointFor } from '../../agent/imds.ts';
import { startImdsServer, type ImdsServer } from '../../local/imds-server.ts';
import { freeLoopbackPort } from '../../local/moto-server.ts';

const INSTANCE = {
  instanceId: 'i-0a632a8349b701357',
  eni: 'eni-0f1e2d3c4b5a69788',
  mac: '0a:00:c6:12:01:0a',
  privateIp: '198.18.1.10',
  availabilityZone: 'us-east-1a',
  credentials: {
    accessKeyId: 'ASIAPGPOOLVIPTEST001',
    secretAccessKey: 'secret-of-the-test-instance',
    sessionToken: 'session-token-of-the-test-instance',
    expiration: new Date('2030-01-01T00:00:00.000Z'),
  },
};

let imds: ImdsServer;
let deadline: Deadline;
beforeAll(async () => {
  imds = await startImdsServer({ instance: INSTANCE, region: 'us-east-1', roleName: 'pgpool-vip-node' });
  deadline = new Deadline(30_000);
});
afterAll(async () => {
  deadline.dispose();
  await imds.stop();
});

describe('Function: startImdsServer (local IMDSv2)', () => {
  it('refuses metadata without a session token, like IMDSv2 with tokens required', async () => {
    // Act
    const answer = await fetch(`${imds.endpoint}/latest/meta-data/instance-id`);
    // Assess
    expect(answer.status).toBe(401);
  });

  it('refuses a token request without a TTL header', async () => {
    const answer = await fetch(`${imds.endpoint}/latest/api/token`, { method: 'PUT' });

    expect(answer.status).toBe(400);
  });

  it('serves the instance identity document with the region', async () => {
    const client = new InstanceMetadata(imds.endpoint, deadline);

    const document: unknown = JSON.parse(await client.get('dynamic/instance-identity/document'));

    expect(document).toMatchObject({ instanceId: INSTANCE.instanceId, region: 'us-east-1', availabilityZone: 'us-east-1a' });
  });

  it("hands the SDK's instance-metadata provider the instance's role credentials", async () => {
    const saved = process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT;
    process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = imds.endpoint;
    try {
      const credentials = await fromInstanceMetadata({ timeout: 2000 })();

      expect(credentials).toMatchObject({
        accessKeyId: INSTANCE.credentials.accessKeyId,
        secretAccessKey: INSTANCE.credentials.secretAccessKey,
        sessionToken: INSTANCE.credentials.sessionToken,
        expiration: INSTANCE.credentials.expiration,
      });
    } finally {
      if (saved === undefined) delete process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT;
      else process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = saved;
    }
  });
});

describe('Function: readNodeIdentity', () => {
  it('reads instance id, region and the ENI behind the MAC over IMDSv2', async () => {
    const client = new InstanceMetadata(imds.endpoint, deadline);
    const before = imds.requests.length;

    const identity = await readNodeIdentity(client, { iface: 'eth0', mac: INSTANCE.mac });

    expect(identity).toEqual({ instanceId: INSTANCE.instanceId, region: 'us-east-1', mac: INSTANCE.mac, eni: INSTANCE.eni });
    expect(imds.requests.slice(before)).toEqual([
      'PUT /latest/api/token 200',
      'GET /latest/meta-data/instance-id 200',
      'GET /latest/meta-data/placement/region 200',
      `GET /latest/meta-data/network/interfaces/macs/${INSTANCE.mac}/interface-id 200`,
    ]);
  });

  it('takes the region from the config instead of IMDS when it is set', async () => {
    const client = new InstanceMetadata(imds.endpoint, deadline);

    const identity = await readNodeIdentity(client, { iface: 'eth0', mac: INSTANCE.mac, region: 'eu-west-1' });

    expect(identity.region).toBe('eu-west-1');
  });

  it('is a usage error when the interface MAC is no ENI of this instance', async () => {
    const client = new InstanceMetadata(imds.endpoint, deadline);

    const reading = readNodeIdentity(client, { iface: 'eth1', mac: '0a:00:00:00:00:99' });

    await expect(reading).rejects.toThrow(
      new UsageError('IMDS knows no network interface with MAC 0a:00:00:00:00:99 (eth1): is eth1 an ENI of this instance?'),
    );
  });
});

describe('Function: resolveCredentials', () => {
  it("reads the instance profile's credentials through the agent's own IMDSv2 session", async () => {
    const credentials = await resolveCredentials(deadline, new InstanceMetadata(imds.endpoint, deadline));

    expect(credentials).toEqual({
      accessKeyId: INSTANCE.credentials.accessKeyId,
      secretAccessKey: INSTANCE.credentials.secretAccessKey,
      sessionToken: INSTANCE.credentials.sessionToken,
      expiration: INSTANCE.credentials.expiration,
    });
  });

  it('says there are no instance-profile credentials when IMDS cannot be reached', async () => {
    const closedPort = await freeLoopbackPort();

    const resolving = resolveCredentials(deadline, new InstanceMetadata(`http://127.0.0.1:${closedPort}`, deadline));

    await expect(resolving).rejects.toThrow(/^no instance-profile credentials from IMDS: IMDS unreachable at http:\/\/127\.0\.0\.1:\d+ \(PUT api\/token\)/);
  });
});

describe('Function: InstanceMetadata', () => {
  it('names the endpoint and the network error when IMDS is unreachable', async () => {
    const closedPort = await freeLoopbackPort();
    const client = new InstanceMetadata(`http://127.0.0.1:${closedPort}`, deadline);

    const reading = client.get('meta-data/instance-id');

    await expect(reading).rejects.toBeInstanceOf(InstanceMetadataError);
    await expect(reading).rejects.toThrow(
      `IMDS unreachable at http://127.0.0.1:${closedPort} (PUT api/token): ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:${closedPort}`,
    );
  });

  it('follows the SDK variables for its endpoint', () => {
    expect(imdsEndpointFor({ AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:1338/' })).toBe('http://127.0.0.1:1338');
    expect(imdsEndpointFor({ AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: 'IPv6' })).toBe('http://[fd00:ec2::254]');
    expect(imdsEndpointFor({})).toBe('http://169.254.169.254');
  });
});
