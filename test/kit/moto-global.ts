import type { TestProject } from 'vitest/node';
import { cachedAgentBundle } from '../../local/agent-bundle-cache.ts';
import { MotoUnavailableError, startMotoServer, type MotoServer } from '../../local/moto-server.ts';
import { packagedService } from '../../local/packaged-service.ts';

/**
 * What the whole run shares, made once before the workers start, side by side:
 * - one moto_server: its first call to each service costs seconds, once per server, so test
 *   files share it and keep apart by the prefix of every world they create (a file that changes
 *   the server itself, IAM auth on, starts its own);
 * - the packaged service, which every moto world and the template tests read;
 * - the agent bundle (test/kit/agent-bundle.ts), built only when its inputs changed since the
 *   last run (local/agent-bundle-cache.ts): a build costs seconds of CPU.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [moto, bundle] = await Promise.all([startSharedMoto(), cachedAgentBundle(), packagedService()]);
  project.provide('motoEndpoint', moto?.endpoint ?? '');
  project.provide('agentBundle', { bundle: bundle.bundle, bytes: bundle.bytes });
  return async () => {
    await moto?.stop();
    bundle.remove();
  };
}

async function startSharedMoto(): Promise<MotoServer | undefined> {
  try {
    return await startMotoServer();
  } catch (error) {
    // Unit tests need no moto; the files that do say why they cannot run.
    if (!(error instanceof MotoUnavailableError)) throw error;
    return undefined;
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    motoEndpoint: string;
    agentBundle: { bundle: string; bytes: number };
  }
}
