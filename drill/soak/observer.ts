import type { DrillWorld } from '../drill-world.ts';
import type { PgpoolCluster } from '../pgpool-cluster.ts';
import { sleep } from '../processes.ts';
import type { RouteChange, WorldSample } from './checks.ts';

/** Looks at the world every SAMPLE_MS while a soak runs: pgpool's leader, every route table, the interfaces. */
export const SAMPLE_MS = 300;

export class Observer {
  public readonly samples: WorldSample[] = [];
  private running = false;
  private loop: Promise<void> | null = null;

  public constructor(
    private readonly drill: DrillWorld,
    private readonly cluster: PgpoolCluster,
  ) {}

  public start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        try {
          // The route tables first (a moto call, over a second on a loaded machine), then the
          // logs, the leader and the interfaces in one synchronous look stamped with its time.
          const routes = await this.drill.routeNodes();
          this.cluster.poll();
          const leader = this.cluster.namedLeader();
          const leaderSince = leader === null ? null : this.cluster.escalatedAt(leader);
          const vipOn = this.drill.vipHolders();
          this.samples.push({ t: Date.now(), leader, leaderSince, routes, vipOn });
        } catch (error) {
          this.drill.timeline.add('soak', `observation failed: ${(error as Error).message}`);
        }
        await sleep(SAMPLE_MS);
      }
    })();
  }

  public async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /**
   * Route changes in (from, to]: table 1 from the VPC router (it reads the table every 100 ms
   * and is what the app's packets follow), the other tables from the samples.
   */
  public routeChanges(from: number, to: number): RouteChange[] {
    const changes: RouteChange[] = this.drill.routeChanges
      .filter((change) => change.at > from && change.at <= to)
      .map((change) => ({ at: change.at, table: 0, node: change.node }));
    const samples = this.samples.filter((sample) => sample.t <= to);
    for (const [index, sample] of samples.entries()) {
      const before = samples[index - 1];
      if (before === undefined || sample.t <= from) continue;
      sample.routes.forEach((node, table) => {
        if (table > 0 && before.routes[table] !== node) changes.push({ at: sample.t, table, node });
      });
    }
    return changes.sort((a, b) => a.at - b.at);
  }
}
