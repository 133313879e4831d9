import { z } from 'zod';
import { parseControllerConfig, type ControllerConfig } from '../lib/cluster-config.ts';
import { DEFAULT_BUS_NAME } from '../lib/contract.ts';
import { ConfigurationError } from '../lib/errors.ts';
import { stsEndpointFor } from '../lib/proof.ts';
import type { SwitchoverSettings } from './switchover/switchover-flow.ts';

const EnvironmentSchema = z.object({
  PGPOOL_VIP_CONFIG: z.string({ required_error: 'is not set (the cluster configuration JSON)' }).min(2),
  LEDGER_TABLE: z.string({ required_error: 'is not set (the ledger table name)' }).min(3),
  EVENT_BUS_NAME: z.string().min(1).default(DEFAULT_BUS_NAME),
  SSM_DOCUMENT_NAME: z.string().min(3).optional(),
  ACCOUNT_ID: z.string({ required_error: 'is not set (the account whose instance roles may sign)' }).regex(/^\d{12}$/, 'must be a 12-digit account id'),
  AWS_REGION: z.string({ required_error: 'is not set' }).regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, 'must be an AWS region name'),
  /** Only for tests against an emulator; in AWS the regional endpoint is used. */
  STS_ENDPOINT: z.string().url().optional(),
});

export interface ControllerEnvironment {
  config: ControllerConfig;
  settings: SwitchoverSettings;
}

/** Reads the controller's environment once; a missing or bad variable is named in the error. */
export function controllerEnvironment(env: NodeJS.ProcessEnv): ControllerEnvironment {
  const parsed = EnvironmentSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigurationError(`environment variable ${String(issue?.path[0])} ${issue?.message ?? 'is invalid'}`);
  }
  const values = parsed.data;
  return {
    config: parseControllerConfig(values.PGPOOL_VIP_CONFIG, { ssmDocument: values.SSM_DOCUMENT_NAME }),
    settings: {
      ledgerTable: values.LEDGER_TABLE,
      busName: values.EVENT_BUS_NAME,
      accountId: values.ACCOUNT_ID,
      region: values.AWS_REGION,
      stsEndpoint: values.STS_ENDPOINT ? new URL(values.STS_ENDPOINT) : stsEndpointFor(values.AWS_REGION, {}),
    },
  };
}
