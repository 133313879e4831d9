import { DEMO } from '../local/world.ts';

/**
 * The drill's network: every name starts with NS_PREFIX so a crashed run can be cleaned up by
 * name. Addresses come from 198.18.0.0/15 only; no namespace has a route off the machine.
 * PGVD_NS_PREFIX (2-6 lower-case letters and a dash) gives a second drill its own namespaces,
 * so two can run side by side: each world is a separate set of network stacks.
 */
export const DEFAULT_NS_PREFIX = 'pgvd-';
export const NS_PREFIX_PATTERN = /^[a-z]{2,6}-$/;

function nsPrefixFromEnvironment(): string {
  const wanted = process.env.PGVD_NS_PREFIX;
  if (wanted === undefined || wanted === '') return DEFAULT_NS_PREFIX;
  if (!NS_PREFIX_PATTERN.test(wanted)) {
    throw new Error(`PGVD_NS_PREFIX '${wanted}' is not 2-6 lower-case letters followed by a dash (for example pgvd-)`);
  }
  return wanted;
}

export const NS_PREFIX = nsPrefixFromEnvironment();

export const VIP = DEMO.vip;
export const NODE_INTERFACE = DEMO.interface;
export const PGPOOL_PORT = 9999;
export const IMDS_ADDRESS = '169.254.169.254';

export interface NodeHost {
  /** pgpool watchdog node index (pgpool_node_id). */
  index: number;
  /** Instance name in the demo world (pgpool-1..3). */
  name: string;
  ns: string;
  ip: string;
  gateway: string;
  prefix: number;
}

export const NODES: readonly NodeHost[] = DEMO.nodeSubnets.map((subnet, index) => ({
  index,
  name: `pgpool-${index + 1}`,
  ns: `${NS_PREFIX}n${index + 1}`,
  ip: subnet.privateIp,
  gateway: subnet.privateIp.replace(/\.\d+$/, '.1'),
  prefix: 24,
}));

/** The namespace holding the Linux bridge every other namespace plugs into (the VPC's wire). */
export const BRIDGE_NS = `${NS_PREFIX}br`;
/** The VPC router: forwards between subnets; its VIP/32 route follows the moto route table. */
export const ROUTER = { ns: `${NS_PREFIX}rtr`, addresses: ['198.18.0.1/24', ...NODES.map((n) => `${n.gateway}/24`), '198.18.255.1/24'] };
/** Stands in for the AWS endpoints: moto_server and the drill's own control loops run here. */
export const AWS_HOST = { ns: `${NS_PREFIX}aws`, ip: '198.18.255.10', prefix: 24, gateway: '198.18.255.1' };
/** The application host that connects to the VIP. */
export const APP_HOST = { ns: `${NS_PREFIX}app`, ip: '198.18.0.10', prefix: 24, gateway: '198.18.0.1' };
/** The PostgreSQL backend behind pgpool. */
export const DB_HOST = { ns: `${NS_PREFIX}db`, ip: '198.18.0.20', prefix: 24, gateway: '198.18.0.1' };

export const VPC_CIDR = DEMO.vpcCidr;

/** Every namespace the drill creates, in creation order. */
export const ALL_NAMESPACES: readonly string[] = [
  BRIDGE_NS,
  ROUTER.ns,
  AWS_HOST.ns,
  APP_HOST.ns,
  DB_HOST.ns,
  ...NODES.map((node) => node.ns),
];
