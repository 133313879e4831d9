import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { REPO_ROOT } from '../../local/packaged-service.ts';

/**
 * serverless.yml's `${file(./scripts/stage-config.cjs)}` variable source, called in this process
 * the way the framework calls it while it resolves the configuration: with the stage option and
 * the service's params (`--param` over the stage's, over `params.default`). A configuration the
 * source refuses stops `serverless package` and `deploy` there, before anything is written; one
 * real packaging per kind of wiring (test/template/stage-config.test.ts) pins that the framework
 * turns the refusal into a failed command with the line on stderr and no template.
 */
type StageConfigSource = (context: {
  options: { stage: string };
  resolveConfigurationProperty(path: readonly string[]): Promise<unknown>;
  resolveVariable(variable: string): Promise<unknown>;
}) => Promise<unknown>;

const source = createRequire(import.meta.url)(join(REPO_ROOT, 'scripts/stage-config.cjs')) as StageConfigSource;

export interface SourceRun {
  /** What the source resolved to, or undefined when it refused. */
  resolved: unknown;
  error: Error | undefined;
  /** What the source wrote on stderr meanwhile (the line the framework's caller sees). */
  stderr: string;
}

/**
 * Resolves the stage's configuration as `serverless package --stage STAGE [--param=K=V]...` would,
 * with PGPOOL_VIP_CONFIG_FILE set to `configFile` when given.
 */
export async function resolveStageConfigSource(options: { stage: string; params?: Record<string, string>; configFile?: string }): Promise<SourceRun> {
  const params = { ...serviceParams(options.stage), ...options.params };
  const context = {
    options: { stage: options.stage },
    resolveConfigurationProperty(path: readonly string[]): Promise<unknown> {
      if (path.join('.') === 'custom.ssmDocumentName') return Promise.resolve(params.ssmDocumentName);
      if (path.join('.') === 'provider.stage') return Promise.resolve(options.stage);
      return Promise.reject(new Error(`the stage configuration source asked for ${path.join('.')}, which this stand-in does not resolve`));
    },
    resolveVariable(variable: string): Promise<unknown> {
      const name = /^param:(\w+)$/.exec(variable)?.[1];
      if (name === undefined) return Promise.reject(new Error(`the stage configuration source asked for \${${variable}}, which this stand-in does not resolve`));
      return Promise.resolve(params[name]);
    },
  };
  // One at a time: the source reads its file's path from the environment (as in the framework's
  // process) after its first await, and what it writes goes to this process's stderr.
  const run = queue.then(() => runSource(context, options.configFile));
  queue = run.then(
    () => undefined,
    () => undefined,
  );
  return await run;
}

let queue: Promise<void> = Promise.resolve();

async function runSource(context: Parameters<StageConfigSource>[0], configFile: string | undefined): Promise<SourceRun> {
  const written: string[] = [];
  const stderr = Object.getOwnPropertyDescriptor(process.stderr, 'write');
  const previous = process.env.PGPOOL_VIP_CONFIG_FILE;
  if (configFile === undefined) delete process.env.PGPOOL_VIP_CONFIG_FILE;
  else process.env.PGPOOL_VIP_CONFIG_FILE = configFile;
  // Kept, not passed on: the refusal's line would read as a failure in the test output.
  process.stderr.write = (chunk: string | Uint8Array): boolean => {
    written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  };
  try {
    return { resolved: await source(context), error: undefined, stderr: written.join('') };
  } catch (error) {
    return { resolved: undefined, error: error as Error, stderr: written.join('') };
  } finally {
    if (stderr === undefined) delete (process.stderr as { write?: unknown }).write;
    else Object.defineProperty(process.stderr, 'write', stderr);
    if (previous === undefined) delete process.env.PGPOOL_VIP_CONFIG_FILE;
    else process.env.PGPOOL_VIP_CONFIG_FILE = previous;
  }
}

/**
 * serverless.yml's params for a stage: the stage's block over `params.default`, `${sls:stage}`
 * replaced, plain numbers as numbers (as the framework reads the YAML).
 */
function serviceParams(stage: string): Record<string, unknown> {
  const text = readFileSync(join(REPO_ROOT, 'serverless.yml'), 'utf8');
  const block = (name: string): Record<string, unknown> => {
    const found = new RegExp(`^params:\\n(?:(?:  .*|\\s*)\\n)*?  ${name}:\\n((?:(?:    .*|\\s*)\\n)*)`, 'm').exec(text)?.[1] ?? '';
    const values: Record<string, unknown> = {};
    for (const [, key = '', raw = ''] of found.matchAll(/^ {4}(\w+): (.+)$/gm)) {
      const value = raw.trim().replace(/^'(.*)'$/, '$1').replaceAll('${sls:stage}', stage);
      values[key] = /^\d+$/.test(raw.trim()) ? Number(value) : value;
    }
    return values;
  };
  const defaults = block('default');
  if (Object.keys(defaults).length === 0) throw new Error('serverless.yml: no params.default block found');
  return { ...defaults, ...block(stage) };
}
