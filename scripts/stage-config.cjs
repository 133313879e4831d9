'use strict';
/* global module, process, __dirname */
// serverless.yml variable source: `${file(./scripts/stage-config.cjs)}` resolves to the stage's
// validated cluster configuration and the IAM statements built from it (scripts/stage-config.ts).
// The framework loads variable sources with require(), hence this CommonJS shim.
// PGPOOL_VIP_CONFIG_FILE points at another file than config/<stage>.json (tests use it).

const cache = new Map();

/**
 * scripts/stage-config.ts and the lib/ modules it imports, bundled by esbuild into one CommonJS
 * module in memory and loaded from there (the dependencies, zod, are required as installed). tsx's
 * loader did the same a module at a time through a loader thread: ~0.3 s more CPU on every
 * serverless command (package, deploy, remove, print). Loaded once per process, whatever the
 * stages and params resolved.
 */
let stageConfigModule;
function stageConfig() {
  stageConfigModule ??= loadTypeScript('stage-config.ts');
  return stageConfigModule;
}

async function loadTypeScript(file) {
  const { createRequire } = await import('node:module');
  const { join } = await import('node:path');
  const { compileFunction } = await import('node:vm');
  const { buildSync } = await import('esbuild');
  const entry = join(__dirname, file);
  const { outputFiles } = buildSync({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${process.versions.node.split('.')[0]}`,
    packages: 'external',
    write: false,
    logLevel: 'silent',
  });
  const loaded = { exports: {} };
  const parameters = ['exports', 'require', 'module', '__filename', '__dirname'];
  compileFunction(outputFiles[0].text, parameters, { filename: entry })(loaded.exports, createRequire(entry), loaded, entry, __dirname);
  return loaded.exports;
}

async function resolveStageSettings({ options, resolveConfigurationProperty, resolveVariable }) {
  const path = await import('node:path');
  const stage = options.stage || (await resolveConfigurationProperty(['provider', 'stage'])) || 'dev';
  const ssmDocumentName = await resolveConfigurationProperty(['custom', 'ssmDocumentName']);
  if (typeof ssmDocumentName !== 'string' || ssmDocumentName === '') {
    throw new Error('serverless.yml: custom.ssmDocumentName must be set');
  }
  const configFile = process.env.PGPOOL_VIP_CONFIG_FILE
    ? path.resolve(process.env.PGPOOL_VIP_CONFIG_FILE)
    : path.join(__dirname, '..', 'config', `${stage}.json`);
  const concurrency = {
    provisioned: await resolveVariable('param:switchoverProvisionedConcurrency'),
    reserved: await resolveVariable('param:switchoverReservedConcurrency'),
  };
  return { stage, configFile, ssmDocumentName, concurrency };
}

module.exports = async (context) => {
  const settings = await resolveStageSettings(context);
  const key = JSON.stringify(settings);
  if (!cache.has(key)) {
    cache.set(
      key,
      (async () => {
        const { loadStageConfig } = await stageConfig();
        try {
          return loadStageConfig(settings);
        } catch (error) {
          // The framework prints its report on stdout; CI logs and callers look at stderr too.
          process.stderr.write(`pgpool-vip: ${error.message}\n`);
          // The framework prints the stack of a failed source; the message alone names the field.
          const clean = new Error(`${error.name}: ${error.message}`);
          clean.stack = clean.message;
          throw clean;
        }
      })(),
    );
  }
  return cache.get(key);
};
