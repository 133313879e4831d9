import { CONFIG_PATH_ENV, DEFAULT_CONFIG_PATH } from './config.ts';

/** `pgpool-vip --help`, on stdout. */
export const HELP_TEXT = `Usage:
  pgpool-vip up VIP IFACE      ask the controller to route VIP to this node; wait until VIP is on IFACE
  pgpool-vip down VIP IFACE    release VIP from this node; wait until VIP is gone from IFACE
  pgpool-vip status [IFACE]    VIP routes, the ledger's holder, and whether VIP is on IFACE
  pgpool-vip doctor [IFACE]    check IMDS, role, interface, source/dest check, bus, ledger and clock
  pgpool-vip audit [--since 24h] [--json] [--insights]
                               the cluster's switchover history, newest first (audit --help)
  pgpool-vip --help | --version

pgpool.conf:
  if_up_cmd = '/usr/local/bin/pgpool-vip up $_IP_$ eth0'
  if_down_cmd = '/usr/local/bin/pgpool-vip down $_IP_$ eth0'
  arping_cmd = '/usr/bin/true'

Options:
  --config PATH            agent config (default: $${CONFIG_PATH_ENV}, else ${DEFAULT_CONFIG_PATH})
  --no-interface-check     up/down: do not wait for the VIP on IFACE (only where it cannot be there)

Exit codes: 0 done, 1 rejected or failed (reason on stderr), 2 usage or config error, 3 timed out.`;
