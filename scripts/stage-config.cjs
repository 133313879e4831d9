'use strict';
/* global module, process, __dirname, __filename */
// serverless.yml variable source: `${file(./scripts/stage-config.cjs)}` resolves to the stage's
// validated cluster configuration and the IAM statements built from it (scripts/stage-config.ts).
// The framework loads variable sources with require(), hence this CommonJS shim.
// PGPOOL_VIP_CONFIG_FILE points at another file than config/<stage>.json (tests use it).

const cache = new Map();

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
        const { tsImport } = await import('tsx/esm/api');
        const { loadStageConfig } = await tsImport('./stage-config.ts', __filename);
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
