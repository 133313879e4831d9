import type { PgpoolVersion } from './options.ts';
import { DB_HOST, NODES, PGPOOL_PORT, VIP, type NodeHost } from './topology.ts';

/** Watchdog timings; short so that a switchover completes in seconds. */
export interface WatchdogTimings {
  /** wd_interval and wd_heartbeat_keepalive, seconds. */
  interval: number;
  /** wd_heartbeat_deadtime, seconds. */
  deadtime: number;
}

/**
 * pgpool's own defaults (src/config/pool_config_variables.c, the same in 4.3 and 4.7):
 * wd_interval 10 s, wd_heartbeat_keepalive 2 s, wd_heartbeat_deadtime 30 s, wd_priority 1.
 * The soak writes none of these settings, so pgpool runs with exactly these.
 */
export const PGPOOL_DEFAULT_TIMINGS = { interval: 10, keepalive: 2, deadtime: 30, priority: 1 } as const;

/**
 * The node isolated in scenario 4. Its lifecheck is slower (deadtime 20 s against 3 s), so
 * its if_down_cmd comes after the new leader's if_up_cmd (the others need about 10-17 s to
 * notice, elect and escalate), as it does with pgpool's default timings. Only the
 * isolated node may be slow: the survivors elect only once both have declared it lost.
 */
export const SLOW_LIFECHECK_NODE = NODES[0]?.name ?? 'pgpool-1';

/** wd_interval 1 s everywhere; deadtime 20 s on SLOW_LIFECHECK_NODE, 3 s on the others. */
export function watchdogTimings(node: NodeHost): WatchdogTimings {
  return { interval: 1, deadtime: node.name === SLOW_LIFECHECK_NODE ? 20 : 3 };
}

/** wd_priority 3, 2, 1: the first node wins elections it takes part in, when pgpool asks. */
export function watchdogPriority(node: NodeHost): number {
  return NODES.length - node.index;
}

export interface PgpoolNodeConfig {
  nodeIndex: number;
  /** Directory for sockets, pid file and status file (writable by the pgpool user). */
  runDir: string;
  /** Absolute command lines; pgpool splits them on spaces and replaces $_IP_$. */
  ifUpCmd: string;
  ifDownCmd: string;
  /** Shortened timings (the scenarios), or null: pgpool's defaults (the soak). */
  timings: WatchdogTimings | null;
  /** wd_priority: the highest wins an election; null: pgpool's default (1 on every node). */
  priority: number | null;
  /** 4.4 renamed delegate_IP to delegate_ip and socket_dir to unix_socket_directories. */
  pgpoolVersion: PgpoolVersion;
}

/**
 * Renders pgpool.conf for one watchdog node in the syntax of its pgpool version: one PostgreSQL
 * backend, watchdog with heartbeat lifecheck, the VIP delegated through if_up_cmd/if_down_cmd.
 */
export function renderPgpoolConf(config: PgpoolNodeConfig): string {
  const quote = (value: string | number): string => `'${String(value).replace(/'/g, "''")}'`;
  const settings: Array<[string, string | number]> = [
    ['backend_clustering_mode', quote('streaming_replication')],
    ['listen_addresses', quote('*')],
    ['port', PGPOOL_PORT],
    [config.pgpoolVersion === '4.3' ? 'socket_dir' : 'unix_socket_directories', quote(config.runDir)],
    ['pcp_listen_addresses', quote('*')],
    ['pcp_port', 9898],
    ['pcp_socket_dir', quote(config.runDir)],
    ['pid_file_name', quote(`${config.runDir}/pgpool.pid`)],
    ['logdir', quote(config.runDir)],
    ['wd_ipc_socket_dir', quote(config.runDir)],
    ['backend_hostname0', quote(DB_HOST.ip)],
    ['backend_port0', 5432],
    ['backend_weight0', 1],
    ['backend_flag0', quote('ALLOW_TO_FAILOVER')],
    ['num_init_children', 4],
    ['max_pool', 1],
    ['enable_pool_hba', 'off'],
    ['pool_passwd', quote('')],
    ['sr_check_period', 0],
    ['sr_check_user', quote('postgres')],
    ['health_check_period', 0],
    ['log_destination', quote('stderr')],
    ['log_line_prefix', quote('%m: %a pid %p: ')],
    ['log_min_messages', quote('warning')],
    ['use_watchdog', 'on'],
    ...NODES.flatMap((node, index): Array<[string, string | number]> => [
      [`hostname${index}`, quote(node.ip)],
      [`wd_port${index}`, 9000],
      [`pgpool_port${index}`, PGPOOL_PORT],
      [`heartbeat_hostname${index}`, quote(node.ip)],
      [`heartbeat_port${index}`, 9694],
      [`heartbeat_device${index}`, quote('')],
    ]),
    ...(config.priority === null ? [] : [['wd_priority', config.priority] as [string, number]]),
    ['wd_authkey', quote('')],
    [config.pgpoolVersion === '4.3' ? 'delegate_IP' : 'delegate_ip', quote(VIP)],
    ['if_cmd_path', quote('/usr/sbin')],
    ['if_up_cmd', quote(config.ifUpCmd)],
    ['if_down_cmd', quote(config.ifDownCmd)],
    ['arping_path', quote('/usr/bin')],
    ['arping_cmd', quote('true')],
    ['ping_path', quote('/usr/bin')],
    ['failover_when_quorum_exists', 'on'],
    ['failover_require_consensus', 'on'],
    ['enable_consensus_with_half_votes', 'off'],
    ['wd_lifecheck_method', quote('heartbeat')],
    ...(config.timings === null
      ? []
      : ([
          ['wd_interval', config.timings.interval],
          ['wd_heartbeat_keepalive', config.timings.interval],
          ['wd_heartbeat_deadtime', config.timings.deadtime],
        ] as Array<[string, number]>)),
  ];
  return `${settings.map(([key, value]) => `${key} = ${value}`).join('\n')}\n`;
}
