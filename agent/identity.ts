import { EniIdSchema, InstanceIdSchema, RegionSchema } from '../lib/contract.ts';
import { reflect } from '../lib/reflect.ts';
import { UsageError } from './errors.ts';
import { InstanceMetadata, InstanceMetadataError } from './imds.ts';

/** Who this node is, as IMDS says: the facts a request carries. */
export interface NodeIdentity {
  instanceId: string;
  region: string;
  mac: string;
  eni: string;
}

export interface IdentityQuery {
  iface: string;
  /** MAC of the interface (from sysfs, or the test-only override). */
  mac: string;
  /** Region from the config, when it overrides IMDS. */
  region?: string;
}

/** Reads instance id, region and the ENI behind the interface's MAC from IMDSv2. */
export async function readNodeIdentity(imds: InstanceMetadata, query: IdentityQuery): Promise<NodeIdentity> {
  // Three independent reads at once: a sequence of round trips is the start-up's longest wait.
  const [instanceId, region, eni] = await Promise.all([
    imds.get('meta-data/instance-id').then((answer) => checked(answer, InstanceIdSchema.safeParse.bind(InstanceIdSchema), 'instance-id')),
    query.region ?? readRegion(imds),
    eniOf(imds, query),
  ]);
  return { instanceId, region, mac: query.mac, eni };
}

/** The region IMDS reports; it names STS and every endpoint, so it must be a region name. */
export async function readRegion(imds: InstanceMetadata): Promise<string> {
  return checked(await imds.get('meta-data/placement/region'), RegionSchema.safeParse.bind(RegionSchema), 'placement/region');
}

async function eniOf(imds: InstanceMetadata, query: IdentityQuery): Promise<string> {
  let answer: string;
  try {
    answer = await imds.get(`meta-data/network/interfaces/macs/${query.mac}/interface-id`);
  } catch (error) {
    if (error instanceof InstanceMetadataError && error.status === 404) {
      // The interface exists here but is not an ENI of this instance: the IFACE argument is wrong.
      throw new UsageError(`IMDS knows no network interface with MAC ${query.mac} (${query.iface}): is ${query.iface} an ENI of this instance?`, {
        cause: error,
      });
    }
    throw error;
  }
  return checked(answer, EniIdSchema.safeParse.bind(EniIdSchema), `network/interfaces/macs/${query.mac}/interface-id`);
}

function checked(value: string, parse: (value: string) => { success: boolean }, what: string): string {
  if (!parse(value).success) throw new InstanceMetadataError(`IMDS answered an unexpected ${what}: ${reflect(value, 40)}`);
  return value;
}
