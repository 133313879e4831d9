import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PgpoolVersion } from './options.ts';


export interface PgpoolInstall {
  version: PgpoolVersion;
  /** The `pgpool` binary. */
  bin: string;
  /** What `pgpool --version` printed, for the report. */
  label: string;
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEBIAN_PGPOOL = '/usr/sbin/pgpool';

/** 4.7.2 from the vendored source beside the repository (CI: a copy of shared/ next to the clone). */
export const SOURCE_RELEASE = '4.7.2';
export const SOURCE_TARBALL = resolve(REPO_ROOT, '..', 'shared', 'vendor', `pgpool-II-${SOURCE_RELEASE}.tar.gz`);
/** Outside the repository, so a fresh clone reuses it; PGVD_PGPOOL_CACHE moves it. */
export const SOURCE_PREFIX = join(process.env.PGVD_PGPOOL_CACHE ?? '/var/cache/pgpool-aws-vip', `pgpool-${SOURCE_RELEASE}`);
export const BUILD_PACKAGES = 'bison flex autoconf automake libtool build-essential libpq-dev libssl-dev';

function versionOf(bin: string): string | null {
  if (!existsSync(bin)) return null;
  const ran = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  const text = `${ran.stdout ?? ''}${ran.stderr ?? ''}`.trim();
  return ran.status === 0 && text !== '' ? text : null;
}

/** The installed pgpool of that version, or why there is none (nothing is built here). */
export function findPgpool(version: PgpoolVersion): PgpoolInstall | { missing: string } {
  if (version === '4.3') {
    const label = versionOf(DEBIAN_PGPOOL);
    if (label === null) return { missing: 'apt-get install -y pgpool2' };
    return { version, bin: DEBIAN_PGPOOL, label };
  }
  const bin = join(SOURCE_PREFIX, 'bin', 'pgpool');
  const label = versionOf(bin);
  if (label === null || !label.includes(`version ${SOURCE_RELEASE} `)) return { missing: `a build of ${SOURCE_RELEASE} in ${SOURCE_PREFIX}` };
  return { version, bin, label };
}

/**
 * Builds pgpool 4.7.2 into the cache once (about 1.5 minutes on 2 cores), or reuses the cache
 * when its `pgpool --version` names 4.7.2. Returns the install, or why it could not build.
 */
export function ensurePgpool(version: PgpoolVersion, log: (line: string) => void): PgpoolInstall | { missing: string } {
  const found = findPgpool(version);
  if (version === '4.3' || !('missing' in found)) return found;
  if (!existsSync(SOURCE_TARBALL)) return { missing: `the pgpool ${SOURCE_RELEASE} source at ${SOURCE_TARBALL}` };
  log(`building pgpool ${SOURCE_RELEASE} from ${SOURCE_TARBALL} into ${SOURCE_PREFIX}`);
  const built = spawnSync(join(REPO_ROOT, 'drill', 'build-pgpool.sh'), [SOURCE_TARBALL, SOURCE_RELEASE, SOURCE_PREFIX], { stdio: 'inherit' });
  if (built.status === 3) return { missing: `the build packages: apt-get install -y ${BUILD_PACKAGES}` };
  if (built.status !== 0) return { missing: `a working build of pgpool ${SOURCE_RELEASE} (the build failed, see above)` };
  return findPgpool(version);
}
