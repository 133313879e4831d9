import { inject } from 'vitest';
import { MOTO_INSTALL_HINT, MotoUnavailableError, type MotoServer } from '../../local/moto-server.ts';
import './moto-global.ts';

/** The run's shared moto_server (test/kit/moto-global.ts). Stopping it is the run's job, not a file's. */
export function sharedMoto(): Pick<MotoServer, 'endpoint' | 'stop'> {
  const endpoint = inject('motoEndpoint');
  if (endpoint === '') throw new MotoUnavailableError(MOTO_INSTALL_HINT);
  return { endpoint, stop: () => Promise.resolve() };
}
