import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { DEFAULT_BUS_NAME, DEFAULT_LEDGER_TABLE_NAME } from '../lib/contract.ts';

/** The policy `serverless deploy` and `serverless remove` of one stage need, with placeholders. */
export const DEPLOYER_POLICY_FILE = fileURLToPath(new URL('../infra/deployer-policy.json', import.meta.url));
const DEFAULT_DOCUMENT_NAME = 'pgpool-vip-address';

const TargetSchema = z
  .object({
    stage: z.string().regex(/^[a-z0-9][a-z0-9-]{0,15}$/, 'must be lowercase letters, digits and dashes, at most 16'),
    region: z.string().regex(/^[a-z]{2}(?:-[a-z]+)+-\d$/, 'must be a region name like eu-west-1'),
    account: z.string().regex(/^\d{12}$/, 'must be a 12-digit account id'),
  })
  .strict();
export type DeployTarget = z.infer<typeof TargetSchema>;

/** The names `serverless.yml`'s params give a stage: `prod` uses the defaults agent and controller share. */
export function stageNames(stage: string): { bus: string; ledger: string; document: string } {
  const suffix = stage === 'prod' ? '' : `-${stage}`;
  return { bus: `${DEFAULT_BUS_NAME}${suffix}`, ledger: `${DEFAULT_LEDGER_TABLE_NAME}${suffix}`, document: `${DEFAULT_DOCUMENT_NAME}${suffix}` };
}

/** infra/deployer-policy.json for one stage, region and account (partition `aws`). */
export function deployerPolicy(input: DeployTarget, template: string = readFileSync(DEPLOYER_POLICY_FILE, 'utf8')): string {
  const target = TargetSchema.parse(input);
  const names = stageNames(target.stage);
  const values: Record<string, string> = { ...names, stage: target.stage, region: target.region, account: target.account };
  const rendered = template.replace(/<([a-z]+)>/g, (placeholder, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`${DEPLOYER_POLICY_FILE}: unknown placeholder ${placeholder}`);
    return value;
  });
  return `${JSON.stringify(JSON.parse(rendered), null, 2)}\n`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: { stage: { type: 'string' }, region: { type: 'string' }, account: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  const parsed = TargetSchema.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    console.error(`deployer-policy: --${issue?.path.join('.') ?? '?'} ${issue?.message ?? 'is invalid'} (usage: npm run deployer-policy -- --stage prod --region eu-west-1 --account 123456789012)`);
    process.exit(2);
  }
  process.stdout.write(deployerPolicy(parsed.data));
}
