import type { AgentConfig } from './config.ts';
import { INTERFACE_MAC_ENV } from './config.ts';
import { UsageError } from './errors.ts';
import { SYS_CLASS_NET, interfaceExists, interfaceMac } from './host-interface.ts';

/** Refuses an interface this host does not have, before anything is sent anywhere. */
export async function checkedInterface(iface: string): Promise<void> {
  if (!(await interfaceExists(iface))) throw new UsageError(`no interface '${iface}' on this host (${SYS_CLASS_NET}/${iface} is missing)`);
}

/**
 * The MAC to look up in IMDS: the interface's own, unless a test or demo names the simulated
 * instance's MAC (env first, then config), because a test host's interface is no ENI.
 */
export async function interfaceMacFor(iface: string, config: AgentConfig, env: NodeJS.ProcessEnv): Promise<string> {
  const override = env[INTERFACE_MAC_ENV];
  if (override !== undefined && override !== '') {
    if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(override)) {
      throw new UsageError(`${INTERFACE_MAC_ENV} '${override}' is not a MAC address`);
    }
    return override.toLowerCase();
  }
  return config.interfaceMac ?? (await interfaceMac(iface));
}
