import type { TestProject } from 'vitest/node';
import { MotoUnavailableError, startMotoServer } from '../../local/moto-server.ts';
import { packagedService } from '../../local/packaged-service.ts';

/**
 * One moto_server for the whole run: its first call to each service costs seconds, once per
 * server, so test files share it and keep apart by the prefix of every world they create. A
 * file that changes the server itself (IAM auth on) starts its own.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Every moto world and the template tests read the packaged service: package it once, before
  // the workers start, instead of once in each worker that meets it first.
  await packagedService();
  let moto;
  try {
    moto = await startMotoServer();
  } catch (error) {
    // Unit tests need no moto; the files that do say why they cannot run.
    if (!(error instanceof MotoUnavailableError)) throw error;
    project.provide('motoEndpoint', '');
    return () => Promise.resolve();
  }
  project.provide('motoEndpoint', moto.endpoint);
  return async () => {
    await moto.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    motoEndpoint: string;
  }
}
