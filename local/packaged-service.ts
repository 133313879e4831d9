// The service as `serverless package` builds it, packaged once per set of inputs and cached, so
// the demo, the drill and the tests deploy the real template without paying for a packaging each.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { finished } from './child-output.ts';
import { folderBeside, inputsDigest } from './build-cache.ts';

/** The repository root: `serverless package` runs there, as `npm run package` does. */
export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
export const TEMPLATE_FILE = 'cloudformation-template-update-stack.json';

/** Enough of a CloudFormation template to transform and check: values stay `unknown` until narrowed. */
export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Condition?: string;
  DependsOn?: string | string[];
  [key: string]: unknown;
}
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Parameters?: Record<string, unknown>;
  Conditions?: Record<string, unknown>;
  Outputs?: Record<string, { Value: unknown; Condition?: string; [key: string]: unknown }>;
  [key: string]: unknown;
}

export interface PackageRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Folder holding the zips and templates (removed by `cleanup`). */
  dir: string;
  cleanup(): void;
}

export interface PackageOptions {
  stage?: string;
  configFile?: string;
  params?: Record<string, string>;
  /** Where the zips and templates go (default: a fresh temp folder). */
  dir?: string;
  /**
   * The run is meant to stop while the framework resolves the configuration, before it writes
   * anything: it holds the checkout's lock shared (serverlessCommand), beside other such runs.
   */
  refusedConfiguration?: boolean;
}

/**
 * Where every serverless command of this checkout keeps the framework's compiled configuration
 * schema (its SLS_SCHEMA_CACHE_BASE_DIR, by default the home folder): compiling it costs the
 * framework about a second and a half of CPU in each command that finds no copy, and a run whose
 * HOME is a fresh folder never finds one. The file is named by the schema's hash and written
 * aside and moved into place, so commands side by side share it safely.
 */
export const SERVERLESS_SCHEMA_CACHE = join(REPO_ROOT, 'node_modules/.cache/pgpool-vip-serverless-schema');

/** Held by every serverless command of this checkout while it runs (serverlessCommand). */
export const SERVERLESS_LOCK = join(REPO_ROOT, 'node_modules/.cache/pgpool-vip-serverless.lock');

/**
 * The command line of a serverless command in this checkout, one at a time: the framework writes
 * every package into `<checkout>/.serverless` before it copies it to `--package`, and a deploy
 * copies its package back there, removing what is there first, so two at once can take or
 * delete each other's files. `flock` waits for the lock. A command that stops while the
 * configuration is resolved writes nothing there: `shared` lets such commands run side by side,
 * still never beside one that writes.
 */
export function serverlessCommand(args: readonly string[], lock: 'exclusive' | 'shared' = 'exclusive'): [command: string, args: string[]] {
  mkdirSync(dirname(SERVERLESS_LOCK), { recursive: true });
  return ['flock', [...(lock === 'shared' ? ['--shared'] : []), SERVERLESS_LOCK, process.execPath, join(REPO_ROOT, 'node_modules/osls/bin/serverless.js'), ...args]];
}

/**
 * Runs `serverless package` offline, with its own esbuild work folder. No AWS credentials are
 * passed on.
 */
export async function runPackage(options: PackageOptions = {}): Promise<PackageRun> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'pgpool-vip-package-'));
  const workFolder = `.esbuild-test-${randomUUID().slice(0, 8)}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
    SLS_SCHEMA_CACHE_BASE_DIR: SERVERLESS_SCHEMA_CACHE,
    PGPOOL_VIP_ESBUILD_WORK_FOLDER: workFolder,
    ...(options.configFile === undefined ? {} : { PGPOOL_VIP_CONFIG_FILE: options.configFile }),
  };
  const [command, args] = serverlessCommand([
    'package',
    '--stage',
    options.stage ?? 'dev',
    '--package',
    dir,
    ...Object.entries(options.params ?? {}).map(([key, value]) => `--param=${key}=${value}`),
  ], options.refusedConfiguration === true ? 'shared' : 'exclusive');
  const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const { status, stdout, stderr } = await finished(child);
  rmSync(join(REPO_ROOT, workFolder), { recursive: true, force: true });
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  return { status, stdout, stderr, dir, cleanup };
}

/**
 * Everything whose change changes what `serverless package` writes for a stage: the service
 * file, the CloudFormation, the bundled code, the stage configuration and its checker, and the
 * exact dependency versions (the framework, esbuild and the bundled SDK).
 */
const PACKAGE_INPUTS = [
  'serverless.yml',
  'infra',
  'functions',
  'lib',
  'config',
  'scripts/stage-config.cjs',
  'scripts/stage-config.ts',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
];

export const PACKAGE_CACHE = join(REPO_ROOT, 'node_modules/.cache/pgpool-vip-package');

/** A digest of the stage, its params (if any) and every input file's path and content. */
export function packageInputsDigest(stage: string, params: Record<string, string> = {}): string {
  const given = Object.entries(params).sort(([a], [b]) => (a < b ? -1 : 1));
  return inputsDigest(REPO_ROOT, PACKAGE_INPUTS, `stage ${stage}${given.map(([key, value]) => ` --param=${key}=${value}`).join('')}`);
}

export interface PackagedService {
  /** The cached folder with the zips and templates: shared, read it, never write to it. */
  dir: string;
  template: CfnTemplate;
  /** false when this call ran `serverless package`. */
  cached: boolean;
}

const packagings = new Map<string, Promise<PackagedService>>();

function cacheEntry(stage: string, params: Record<string, string> = {}): string {
  return join(PACKAGE_CACHE, `${stage}-${packageInputsDigest(stage, params)}`);
}

/** The stage's cached packaging for the current inputs, if there is one (reads it afresh). */
export function cachedPackage(stage = 'dev'): PackagedService | undefined {
  const entry = cacheEntry(stage);
  return existsSync(join(entry, TEMPLATE_FILE)) ? { dir: entry, template: readTemplate(entry), cached: true } : undefined;
}

/**
 * The stage's packaged service (with `params` given as `--param`), from the cache when its
 * inputs have not changed. A packaging writes into a temp folder beside the cache entry and
 * renames it into place, so processes that package at the same time never see a half-written
 * entry: the first rename wins, the others drop their copy.
 */
export function packagedService(stage = 'dev', params: Record<string, string> = {}): Promise<PackagedService> {
  const entry = cacheEntry(stage, params);
  let packaging = packagings.get(entry);
  if (packaging === undefined) {
    packaging = packageInto(entry, stage, params);
    packagings.set(entry, packaging);
    packaging.catch(() => packagings.delete(entry));
  }
  return packaging;
}

async function packageInto(entry: string, stage: string, params: Record<string, string>): Promise<PackagedService> {
  if (existsSync(join(entry, TEMPLATE_FILE))) return { dir: entry, template: readTemplate(entry), cached: true };
  const partial = folderBeside(PACKAGE_CACHE, entry);
  const run = await runPackage({ stage, params, ...(partial === undefined ? {} : { dir: partial }) });
  if (run.status !== 0 || !existsSync(join(run.dir, TEMPLATE_FILE))) {
    run.cleanup();
    throw new Error(`serverless package failed (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  }
  if (partial === undefined) return { dir: run.dir, template: readTemplate(run.dir), cached: false };
  try {
    renameSync(run.dir, entry);
  } catch (error) {
    // Another process renamed its packaging of the same inputs first: use that one.
    run.cleanup();
    if (!existsSync(join(entry, TEMPLATE_FILE))) throw error;
  }
  return { dir: entry, template: readTemplate(entry), cached: false };
}

function readTemplate(dir: string): CfnTemplate {
  return JSON.parse(readFileSync(join(dir, TEMPLATE_FILE), 'utf8')) as CfnTemplate;
}
