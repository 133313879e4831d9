import type { ClusterConfig } from '../../lib/cluster-config.ts';
import type { InterfaceFinding } from '../core/model.ts';
import type { InterfaceProbe } from '../core/ports.ts';

export interface InterfaceCheckOptions {
  probe: InterfaceProbe;
  /** Which clusters opted in; the others are never asked. */
  enabledFor: (cluster: ClusterConfig) => boolean;
  /** At most one check per cluster in this interval: each check is an SSM command run as root on the node. */
  minIntervalMs: number;
}

/**
 * Rate-limits interface checks per cluster. The memory lives as long as the Lambda container:
 * a cold start may check once more than the interval allows, never more often than each run.
 */
export class InterfaceCheckSchedule {
  private readonly lastCheckAt = new Map<string, number>();

  public constructor(
    private readonly options: InterfaceCheckOptions | undefined,
    private readonly clock: () => number,
  ) {}

  /** `not-checked` when the cluster did not opt in or its last check is too recent. */
  public async check(cluster: ClusterConfig, instanceId: string): Promise<InterfaceFinding | 'not-checked'> {
    if (this.options === undefined || !this.options.enabledFor(cluster)) return 'not-checked';
    const now = this.clock();
    const last = this.lastCheckAt.get(cluster.name);
    if (last !== undefined && now - last < this.options.minIntervalMs) return 'not-checked';
    this.lastCheckAt.set(cluster.name, now);
    return await this.options.probe({ cluster, instanceId });
  }
}
