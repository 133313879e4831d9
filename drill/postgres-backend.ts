import { appendFileSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { runInNamespace, startInNamespace, waitFor, SERVICE_USER, type ServiceProcess } from './processes.ts';
import { DB_HOST } from './topology.ts';

export const POSTGRES_BIN = '/usr/lib/postgresql/15/bin';

/** Initialises a throwaway cluster and starts PostgreSQL in the backend namespace. */
export async function startPostgresBackend(workdir: string): Promise<ServiceProcess> {
  const dataDir = join(workdir, 'postgres');
  mkdirSync(dataDir, { mode: 0o700 });
  execFileSync('chown', [`${SERVICE_USER}:${SERVICE_USER}`, dataDir]);
  const init = await runInNamespace({
    ns: DB_HOST.ns,
    asServiceUser: true,
    cwd: workdir,
    argv: [join(POSTGRES_BIN, 'initdb'), '-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync'],
    timeoutMs: 60_000,
  });
  if (init.code !== 0) throw new Error(`initdb failed: ${init.stderr.trim()}`);
  appendFileSync(join(dataDir, 'pg_hba.conf'), 'host all all 198.18.0.0/16 trust\n');
  const server = startInNamespace(
    'postgres',
    {
      ns: DB_HOST.ns,
      asServiceUser: true,
      cwd: workdir,
      argv: [
        join(POSTGRES_BIN, 'postgres'),
        '-D',
        dataDir,
        '-c',
        `listen_addresses=${DB_HOST.ip}`,
        '-c',
        `unix_socket_directories=${dataDir}`,
        '-c',
        'fsync=off',
      ],
    },
    join(workdir, 'postgres.log'),
  );
  const ready = await waitFor(async () => {
    const probe = await runInNamespace({
      ns: DB_HOST.ns,
      argv: [join(POSTGRES_BIN, 'pg_isready'), '-h', DB_HOST.ip, '-q'],
      timeoutMs: 5000,
    });
    return probe.code === 0 ? true : undefined;
  }, 30_000, 200);
  if (ready === undefined) throw new Error(`PostgreSQL did not accept connections on ${DB_HOST.ip}:5432`);
  return server;
}
