import type { AgentConfig } from './config.ts';
import type { Deadline } from './deadline.ts';
import { AgentError, describeAwsError, oneLine } from './errors.ts';
import { interfaceExists } from './host-interface.ts';
import { readNodeIdentity, readRegion, type NodeIdentity } from './identity.ts';
import { InstanceMetadata, imdsEndpointFor } from './imds.ts';
import { interfaceMacFor } from './preflight.ts';

/** `status` and `doctor` look at a node; they never send a request. */
export interface InspectCommand {
  config: AgentConfig;
  configPath: string;
  iface: string;
}

/** What IMDS says about this node, or why it could not say. */
export type IdentityLookup =
  | { ok: true; identity: NodeIdentity; endpoint: string }
  | { ok: false; region: string | undefined; problem: string; endpoint: string };

/** Identity for inspection: a missing interface or IMDS is reported, not fatal. */
export async function lookUpIdentity(command: InspectCommand, env: NodeJS.ProcessEnv, deadline: Deadline): Promise<IdentityLookup> {
  const imds = new InstanceMetadata(imdsEndpointFor(env), deadline);
  const { config, iface } = command;
  try {
    if (!(await interfaceExists(iface))) {
      const region = config.region ?? (await readRegion(imds));
      return { ok: false, region, problem: `no interface '${iface}' on this host`, endpoint: imds.endpoint };
    }
    const mac = await interfaceMacFor(iface, config, env);
    const identity = await readNodeIdentity(imds, { iface, mac, ...(config.region === undefined ? {} : { region: config.region }) });
    return { ok: true, identity, endpoint: imds.endpoint };
  } catch (error) {
    return { ok: false, region: config.region, problem: describeProblem(error), endpoint: imds.endpoint };
  }
}

/** Our own errors already read as sentences; anything else gets its AWS/network name. */
export function describeProblem(error: unknown): string {
  return error instanceof AgentError ? oneLine(error.message) : describeAwsError(error);
}
