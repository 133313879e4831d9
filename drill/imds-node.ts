/**
 * Runs inside one node's namespace: the instance metadata service of that instance only,
 * at the address EC2 uses (169.254.169.254:80 on the node's loopback), so the SDK, the agent
 * and the article's curl all find it where they would on EC2.
 * Usage: imds-node.ts INSTANCE_JSON_FILE
 */
import { readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { z } from 'zod';
import { startImdsServer } from '../local/imds-server.ts';
import { IMDS_ADDRESS } from './topology.ts';

const InstanceFileSchema = z.object({
  region: z.string(),
  roleName: z.string(),
  vpcId: z.string(),
  accountId: z.string(),
  instance: z.object({
    instanceId: z.string(),
    eni: z.string(),
    mac: z.string(),
    privateIp: z.string(),
    subnetId: z.string(),
    availabilityZone: z.string(),
    credentials: z.object({
      accessKeyId: z.string(),
      secretAccessKey: z.string(),
      sessionToken: z.string(),
      expiration: z.coerce.date().optional(),
    }),
  }),
});

const path = process.argv[2];
if (path === undefined) {
  console.error('imds-node: usage: imds-node.ts INSTANCE_JSON_FILE');
  process.exit(2);
}
const spec = InstanceFileSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
const imds = await startImdsServer({
  instance: spec.instance,
  region: spec.region,
  roleName: spec.roleName,
  vpcId: spec.vpcId,
  accountId: spec.accountId,
});

// The metadata server listens on loopback; this relays EC2's well-known address to it.
const relay = createServer((client) => {
  const upstream = connect(imds.port, '127.0.0.1');
  client.pipe(upstream).pipe(client);
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
});
relay.listen(80, IMDS_ADDRESS, () => {
  console.log(`imds-node: ${spec.instance.instanceId} listening on ${IMDS_ADDRESS}:80`);
});
const shutdown = (): void => {
  relay.close();
  void imds.stop().then(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
