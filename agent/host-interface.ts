import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { fsCalls } from './fs-calls.ts';

/** sysfs lists every interface of this network namespace, readable without privileges. */
export const SYS_CLASS_NET = '/sys/class/net';

/** True when this host (network namespace) has an interface of that name. */
export async function interfaceExists(iface: string, sysClassNet: string = SYS_CLASS_NET): Promise<boolean> {
  try {
    await fsCalls.stat(join(sysClassNet, iface));
    return true;
  } catch {
    return false;
  }
}

/** The interface's hardware address, lower case, as IMDS spells MACs. */
export async function interfaceMac(iface: string, sysClassNet: string = SYS_CLASS_NET): Promise<string> {
  return (await fsCalls.readFile(join(sysClassNet, iface, 'address'), 'utf8')).trim().toLowerCase();
}

/**
 * True when `address` is an IPv4 address of `iface`. getifaddrs(3) through node:os needs no
 * privileges and no `ip` binary on pgpool's PATH, and sees the /32 SSM adds like `ip addr` does.
 */
export function interfaceHasAddress(iface: string, address: string): boolean {
  return (networkInterfaces()[iface] ?? []).some((entry) => entry.family === 'IPv4' && entry.address === address);
}
