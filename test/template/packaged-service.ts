import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: `serverless package` runs there, as `npm run package` does. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const TEMPLATE_FILE = 'cloudformation-template-update-stack.json';

/** Enough of a CloudFormation template for the assertions: values stay `unknown` until narrowed. */
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
  Outputs?: Record<string, unknown>;
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

/**
 * Runs `serverless package` offline into a fresh temp folder, with its own esbuild work folder
 * so several test files can package at the same time. No AWS credentials are passed on.
 */
export async function runPackage(options: { stage?: string; configFile?: string; params?: Record<string, string> } = {}): Promise<PackageRun> {
  const dir = mkdtempSync(join(tmpdir(), 'pgpool-vip-package-'));
  const workFolder = `.esbuild-test-${randomUUID().slice(0, 8)}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
    PGPOOL_VIP_ESBUILD_WORK_FOLDER: workFolder,
    ...(options.configFile === undefined ? {} : { PGPOOL_VIP_CONFIG_FILE: options.configFile }),
  };
  const child = spawn(
    process.execPath,
    [
      join(REPO_ROOT, 'node_modules/osls/bin/serverless.js'),
      'package',
      '--stage',
      options.stage ?? 'dev',
      '--package',
      dir,
      ...Object.entries(options.params ?? {}).map(([key, value]) => `--param=${key}=${value}`),
    ],
    { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const { status, stdout, stderr } = await finished(child);
  const cleanup = (): void => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(REPO_ROOT, workFolder), { recursive: true, force: true });
  };
  return { status, stdout, stderr, dir, cleanup };
}

/** Packages the service and reads the update-stack template; throws with the CLI output on failure. */
export async function packageTemplate(stage = 'dev'): Promise<{ template: CfnTemplate; run: PackageRun }> {
  const run = await runPackage({ stage });
  const file = join(run.dir, TEMPLATE_FILE);
  if (run.status !== 0 || !existsSync(file)) {
    run.cleanup();
    throw new Error(`serverless package failed (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  }
  return { template: JSON.parse(readFileSync(file, 'utf8')) as CfnTemplate, run };
}

/** Fails with what to install when a tool CI has is missing here: such a test must not pass silently. */
export function requireTool(command: string, probeArgs: string[], installHint: string): void {
  const probe = spawnSync(command, probeArgs, { stdio: 'ignore', timeout: 30_000 });
  if (probe.error !== undefined || probe.status !== 0) throw new Error(installHint);
}

export const CFN_LINT_INSTALL_HINT =
  "cfn-lint was not found on PATH: install it with `pip install cfn-lint` (python 3), then run this again";

export function resourcesOfType(template: CfnTemplate, type: string): Array<[string, CfnResource]> {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

export function resource(template: CfnTemplate, logicalId: string): CfnResource {
  const found = template.Resources[logicalId];
  if (found === undefined) throw new Error(`template has no resource ${logicalId}`);
  return found;
}

/** A child's exit status and everything it wrote, once it has closed. */
export async function finished(child: ChildProcessByStdio<null, Readable, Readable>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const status = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  return { status, stdout, stderr };
}
