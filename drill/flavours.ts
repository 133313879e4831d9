import { join } from 'node:path';
import { REPO_ROOT, type DrillWorld } from './drill-world.ts';
import { PgpoolCluster } from './pgpool-cluster.ts';
import type { WatchdogTimings } from './pgpool-config.ts';
import type { PgpoolInstall } from './pgpool-install.ts';
import type { Timeline } from './timeline.ts';
import type { NodeHost } from './topology.ts';
import type { Script } from './options.ts';

export interface ClusterChoice {
  script: Script;
  install: PgpoolInstall;
  /** Timings per node; null: pgpool's defaults. */
  timings: (node: NodeHost) => WatchdogTimings | null;
  priority: (node: NodeHost) => number | null;
  /** The agent bundle the nodes run (a copy per run, so two drills never share one file). */
  agentBundle: string;
  dir: string;
  /** pgpool-vip's pgpool keeps CAP_NET_ADMIN and its agent adds the VIP itself (the local fast path). */
  localAddress?: boolean;
}

/**
 * Three pgpool nodes running one script. pgpool-vip's nodes run as postgres; the article's
 * script needs root for `ip` and finds its `aws` wrapper first in PATH (see docs/drill.md).
 */
export function createCluster(drill: DrillWorld, timeline: Timeline, agentConfig: string, choice: ClusterChoice): PgpoolCluster {
  const product = choice.script === 'pgpool-vip';
  const baselineDir = join(REPO_ROOT, 'drill', 'baseline');
  return new PgpoolCluster({
    flavour: choice.script,
    dir: choice.dir,
    // The agent runs as pgpool's own child, as on a node (it reads its incarnation from its
    // parent); node's --import records its runs. The article's script gets the shell wrapper.
    timingWrapper: product ? null : join(REPO_ROOT, 'drill', 'timed-if-cmd.sh'),
    ifCommand: product
      ? (action) => `${process.execPath} --import ${drill.ifCommandRecorder} ${choice.agentBundle} ${action} $_IP_$ eth0`
      : (action) => `${join(baselineDir, 'if_cmd.sh')} ${action} $_IP_$ eth0 ${drill.routeTableId} ${join(baselineDir, 'aws')}`,
    env: (host) =>
      drill.pgpoolEnv(host, {
        path: product ? '/usr/local/bin:/usr/bin:/bin' : `${baselineDir}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`,
        home: join(choice.dir, host.name),
        ifCommandLog: join(choice.dir, 'if-commands.log'),
        agentConfig,
      }),
    timings: choice.timings,
    priority: choice.priority,
    install: choice.install,
    asServiceUser: product,
    netAdmin: product && choice.localAddress === true,
    timeline,
  });
}
