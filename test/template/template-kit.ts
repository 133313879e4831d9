import { spawnSync } from 'node:child_process';
import { packagedService, type CfnResource, type CfnTemplate } from '../../local/packaged-service.ts';

/**
 * The stage's packaged service from the package cache (local/packaged-service.ts), the same one
 * the moto worlds deploy: its folder is shared, so tests read it and write elsewhere.
 */
export async function packageTemplate(stage = 'dev'): Promise<{ template: CfnTemplate; dir: string }> {
  const { template, dir } = await packagedService(stage);
  return { template, dir };
}

/**
 * Fails with what to install when a tool CI has is missing here: such a test must not pass
 * silently. A look on PATH, not a run: starting a Python tool just to probe it costs a second of
 * CPU, and one that is there but broken fails loudly where the test runs it.
 */
export function requireTool(command: string, installHint: string): void {
  const probe = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { stdio: 'ignore', timeout: 30_000 });
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
