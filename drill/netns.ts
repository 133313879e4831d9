import { execFileSync, spawnSync } from 'node:child_process';
import {
  ALL_NAMESPACES,
  APP_HOST,
  AWS_HOST,
  BRIDGE_NS,
  DB_HOST,
  NODE_INTERFACE,
  NODES,
  NS_PREFIX,
  ROUTER,
  VPC_CIDR,
} from './topology.ts';

/** Runs `ip` with arguments, throwing with its stderr when it fails. */
export function ip(...args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`ip ${args.join(' ')}: ${stderr.trim() || (error as Error).message}`, { cause: error });
  }
}

function sysctl(ns: string, key: string, value: string): void {
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `${key}=${value}`], { stdio: 'ignore' });
}

/** Names of existing namespaces that this drill created (current or crashed run). */
export function drillNamespaces(): string[] {
  const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  return listed
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(NS_PREFIX));
}

/** Pids of the processes living in a namespace (ours: nothing else runs in a namespace we made). */
export function namespacePids(ns: string): number[] {
  const listed = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
  return listed
    .split('\n')
    .map((line) => Number.parseInt(line, 10))
    .filter((pid) => Number.isInteger(pid) && pid > 1 && pid !== process.pid);
}

/** Kills every process left in the drill's namespaces, then deletes the namespaces. Never throws. */
export function destroyNetwork(log: (line: string) => void = () => undefined): void {
  const namespaces = drillNamespaces();
  for (const ns of namespaces) {
    for (const pid of namespacePids(ns)) {
      try {
        process.kill(pid, 'SIGKILL');
        log(`killed pid ${pid} in ${ns}`);
      } catch {
        // already gone
      }
    }
  }
  for (const ns of namespaces) {
    const deleted = spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8' });
    if (deleted.status !== 0) log(`could not delete namespace ${ns}: ${deleted.stderr.trim()}`);
  }
}

interface Host {
  ns: string;
  bridgePort: string;
  addresses: string[];
  routes: string[][];
}

/**
 * Builds the VPC in namespaces: one bridge, one veth per host (named eth0 inside the host),
 * a router with an address in every subnet, and routes that only reach 198.18.0.0/15.
 */
export function createNetwork(): void {
  const vpcRoute = (gateway: string, src: string): string[] => [VPC_CIDR, 'via', gateway, 'src', src];
  const hosts: Host[] = [
    { ns: ROUTER.ns, bridgePort: 'rtr', addresses: ROUTER.addresses, routes: [] },
    {
      ns: AWS_HOST.ns,
      bridgePort: 'aws',
      addresses: [`${AWS_HOST.ip}/${AWS_HOST.prefix}`],
      routes: [vpcRoute(AWS_HOST.gateway, AWS_HOST.ip)],
    },
    {
      ns: APP_HOST.ns,
      bridgePort: 'app',
      addresses: [`${APP_HOST.ip}/${APP_HOST.prefix}`],
      // The app reaches the VIP (outside the VPC CIDR) only through the router, as in a VPC.
      routes: [['198.18.0.0/15', 'via', APP_HOST.gateway, 'src', APP_HOST.ip]],
    },
    {
      ns: DB_HOST.ns,
      bridgePort: 'db',
      addresses: [`${DB_HOST.ip}/${DB_HOST.prefix}`],
      routes: [vpcRoute(DB_HOST.gateway, DB_HOST.ip)],
    },
    ...NODES.map((node) => ({
      ns: node.ns,
      bridgePort: `n${node.index + 1}`,
      addresses: [`${node.ip}/${node.prefix}`],
      // src pins the node's own address, so traffic it starts never leaves from the VIP.
      routes: [vpcRoute(node.gateway, node.ip)],
    })),
  ];
  for (const ns of ALL_NAMESPACES) ip('netns', 'add', ns);
  for (const ns of ALL_NAMESPACES) ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('-n', BRIDGE_NS, 'link', 'add', 'br0', 'type', 'bridge');
  ip('-n', BRIDGE_NS, 'link', 'set', 'br0', 'up');
  for (const host of hosts) {
    ip('-n', BRIDGE_NS, 'link', 'add', host.bridgePort, 'type', 'veth', 'peer', 'name', NODE_INTERFACE, 'netns', host.ns);
    ip('-n', BRIDGE_NS, 'link', 'set', host.bridgePort, 'master', 'br0', 'up');
    for (const address of host.addresses) ip('-n', host.ns, 'addr', 'add', address, 'dev', NODE_INTERFACE);
    ip('-n', host.ns, 'link', 'set', NODE_INTERFACE, 'up');
    for (const route of host.routes) ip('-n', host.ns, 'route', 'add', ...route);
  }
  // The router forwards back out of the interface it received on (one wire): no redirects,
  // and no reverse-path filter, since the VIP's return path moves between nodes.
  for (const key of ['all', 'default', NODE_INTERFACE]) {
    sysctl(ROUTER.ns, `net.ipv4.conf.${key}.send_redirects`, '0');
    sysctl(ROUTER.ns, `net.ipv4.conf.${key}.rp_filter`, '0');
  }
  sysctl(ROUTER.ns, 'net.ipv4.ip_forward', '1');
  for (const host of hosts) {
    if (host.ns === ROUTER.ns) continue;
    // Nodes never forward: a packet for the VIP is accepted only when the VIP is a local address.
    sysctl(host.ns, 'net.ipv4.ip_forward', '0');
    sysctl(host.ns, `net.ipv4.conf.all.accept_redirects`, '0');
  }
}

/**
 * Gives a node's eth0 the MAC of its simulated ENI, so IMDS and `ip link` agree. veth takes
 * the change while up; taking the link down would drop its routes.
 */
export function setNodeMac(ns: string, mac: string): void {
  ip('-n', ns, 'link', 'set', NODE_INTERFACE, 'address', mac);
}
