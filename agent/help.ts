import type { HelpTopic } from './cli.ts';
import { CONFIG_PATH_ENV, DEFAULT_CONFIG_PATH } from './config.ts';

const CONFIG_OPTION = `  --config PATH            agent config (default: $${CONFIG_PATH_ENV}, else ${DEFAULT_CONFIG_PATH})`;

/** `pgpool-vip --help`, on stdout. */
export const HELP_TEXT = `Usage:
  pgpool-vip up VIP IFACE      ask the controller to route VIP to this node; wait until VIP is on IFACE
  pgpool-vip down VIP IFACE    release VIP from this node; wait until VIP is gone from IFACE
  pgpool-vip status [IFACE]    VIP routes, the ledger's holder, VIP on IFACE; exit 1 when they disagree
  pgpool-vip doctor [IFACE]    pass/fail gate for this node: IMDS, Node.js, role, tags, SSM agent, bus,
                               ledger, clock, and with --pgpool-conf FILE the pgpool.conf lines
  pgpool-vip audit [--since 24h] [--json] [--insights]
                               the cluster's switchover history, newest first
  pgpool-vip code-cache        as root, once per install and after a Node upgrade: V8's compiled commands
                               beside the agent file, so up and down start faster (--check: is it used)
  pgpool-vip COMMAND --help    the options of one command
  pgpool-vip --help | --version

pgpool.conf (Pgpool-II 4.4 to 4.7; on 4.3 the first line is delegate_IP):
  delegate_ip = 'VIP'
  if_up_cmd = '/usr/local/bin/pgpool-vip up $_IP_$ ens5'
  if_down_cmd = '/usr/local/bin/pgpool-vip down $_IP_$ ens5'
  arping_cmd = '/usr/bin/true'

Options:
${CONFIG_OPTION}
  --no-interface-check     up/down: do not wait for the VIP on IFACE (only where it cannot be there)
  --dry-run                up/down: the controller verifies and decides, reports its plan, changes nothing
  --json                   status/doctor, and up/down with --dry-run: one JSON document on stdout

Exit codes: 0 done, 1 rejected or failed (reason on stderr), 2 usage or config error, 3 timed out.`;

const SWITCHOVER_HELP = (action: 'up' | 'down'): string => `Usage: pgpool-vip ${action} VIP IFACE [--config PATH] [--no-interface-check]
       pgpool-vip ${action} VIP IFACE --dry-run [--json] [--config PATH]

${action === 'up' ? "Asks the controller to route VIP to this node's ENI in every configured route table and to add\nVIP to IFACE, then waits until VIP is on IFACE. pgpool runs it as if_up_cmd:\n  if_up_cmd = '/usr/local/bin/pgpool-vip up $_IP_$ ens5'" : "Asks the controller to take VIP off IFACE (the route stays: it is never deleted), then waits until\nVIP is gone from IFACE. pgpool runs it as if_down_cmd:\n  if_down_cmd = '/usr/local/bin/pgpool-vip down $_IP_$ ens5'"}

VIP must be the cluster's VIP in the agent config; IFACE is the interface with the instance's
primary IP (ens5 on Nitro images, eth0 on older ones). A wait longer than 2 s prints one line
on stderr saying what for.

With --dry-run the signed request carries a dry-run flag: the controller verifies the proof,
checks the member and decides, then reports the plan (the route in each table, the SSM commands
it would send) and changes nothing; the audit records it as a dry run. It proves a node's IAM,
tags and config before its first real failover. Exit 0 when the real run would be applied (or
a noop), 1 with the reason when it would be refused or stale.

Options:
${CONFIG_OPTION}
  --no-interface-check     do not wait for the VIP on IFACE (only where it cannot be there)
  --dry-run                ask for the controller's plan only; nothing is changed
  --json                   with --dry-run: the plan as one JSON document on stdout

Exit codes: 0 done, 1 rejected or failed (reason on stderr), 2 usage or config error, 3 timed out.`;

/** `pgpool-vip COMMAND --help`. */
export const COMMAND_HELP: Record<HelpTopic, string> = {
  up: SWITCHOVER_HELP('up'),
  down: SWITCHOVER_HELP('down'),
  status: `Usage: pgpool-vip status [IFACE] [--config PATH] [--json]

Shows the VIP's route in each route table, the holder the ledger records, and whether the VIP is
on IFACE (default: interface in the agent config). Exit 0 when they agree: every route points at
the holder's ENI, and the VIP is on IFACE exactly when this node holds it. Exit 1 when they
disagree (the last line says how) or a question could not be answered.

Options:
${CONFIG_OPTION}
  --json                   one JSON document on stdout instead of lines`,
  doctor: `Usage: pgpool-vip doctor [IFACE] [--config PATH] [--pgpool-conf FILE [--pgpool-version X.Y]] [--json]

A pass/fail gate for this node, read-only: one line per check, OK or FIX with what to do; exit 0
only when every line is OK. Checks the agent config, Node.js (22 or later), IMDSv2 and which
interface carries the primary IP, the signing role and session, the clock, the member tag on the
instance and its ENI, the source/dest check (on is fine on a standby: the controller turns it off
at the first up), the SSM agent (running and registered), the bus and the ledger.

Options:
${CONFIG_OPTION}
  --pgpool-conf FILE       also check pgpool.conf: delegate_ip (4.4+) or delegate_IP (4.3), absolute
                           if_up_cmd/if_down_cmd naming this agent, arping_cmd, empty escalation commands
  --pgpool-version X.Y     the pgpool version (default: asks pgpool --version)
  --json                   one JSON document on stdout instead of lines`,
};
