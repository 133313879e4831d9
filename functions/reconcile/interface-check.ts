import type { SSMClient } from '@aws-sdk/client-ssm';
import type { ClusterConfig } from '../../lib/cluster-config.ts';
import { checkVipOnInterface, type InterfaceFinding } from '../adapters/ssm-interface-probe.ts';

/** Asks the holder whether the VIP is on the cluster's interface. */
export type InterfaceProbe = (target: { cluster: ClusterConfig; instanceId: string }) => Promise<InterfaceFinding>;

export interface InterfaceCheckOptions {
  probe: InterfaceProbe;
  /** Which clusters opted in; the others are never asked. */
  enabledFor: (cluster: ClusterConfig) => boolean;
  /** At most one check per cluster in this interval: each check is an SSM command run as root on the node. */
  minIntervalMs: number;
}

/** The probe through the project's SSM document (needs its `check` action). */
export function ssmInterfaceProbe(ssm: SSMClient, timeoutMs: number): InterfaceProbe {
  return async ({ cluster, instanceId }) =>
    (
      await checkVipOnInterface(ssm, {
        document: cluster.ssmDocument,
        vip: cluster.vip,
        iface: cluster.interface,
        instanceId,
        timeoutMs,
      })
    ).finding;
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
