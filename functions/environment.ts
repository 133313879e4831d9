import { z } from 'zod';
import { describeIssues, parseControllerConfig, type ControllerConfig } from '../lib/cluster-config.ts';
import { DEFAULT_BUS_NAME } from '../lib/contract.ts';
import { ConfigurationError } from '../lib/errors.ts';
import { stsEndpointFor } from '../lib/proof.ts';

/** What both functions read: the cluster configuration and the ledger. */
const SharedVariables = z.object({
  PGPOOL_VIP_CONFIG: z.string({ required_error: 'is not set (the cluster configuration JSON)' }).min(2),
  LEDGER_TABLE: z.string({ required_error: 'is not set (the ledger table name)' }).min(3),
  SSM_DOCUMENT_NAME: z.string().min(3).optional(),
});

/**
 * AWS STS hosts: the regional and global endpoints, FIPS and China partitions included. A proof
 * is replayed to this host, so it must be STS, whatever the deployment says.
 */
const AWS_STS_HOST = /^sts(-fips)?(\.[a-z]{2}(-gov)?-[a-z]+-\d)?\.amazonaws\.com(\.cn)?$/;

/** What the switchover function reads besides: where outcomes go and who may sign. */
const SwitchoverVariables = SharedVariables.extend({
  EVENT_BUS_NAME: z.string().min(1).default(DEFAULT_BUS_NAME),
  ACCOUNT_ID: z.string({ required_error: 'is not set (the account whose instance roles may sign)' }).regex(/^\d{12}$/, 'must be a 12-digit account id'),
  AWS_REGION: z.string({ required_error: 'is not set' }).regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, 'must be an AWS region name'),
  /** Another STS endpoint: an AWS STS host over https, or anything when PGPOOL_VIP_EMULATED_AWS=true. */
  STS_ENDPOINT: z.string().url().optional(),
  /** Set only by a deployment against an AWS emulator (moto): lifts the STS host check. */
  PGPOOL_VIP_EMULATED_AWS: z.enum(['true', 'false']).default('false'),
});

export interface SwitchoverEnvironment {
  config: ControllerConfig;
  ledgerTable: string;
  busName: string;
  accountId: string;
  /** The controller's region: proofs must be scoped to it. */
  region: string;
  stsEndpoint: URL;
}

export interface ReconcileEnvironment {
  config: ControllerConfig;
  ledgerTable: string;
}

function parsed<T extends z.ZodTypeAny>(schema: T, env: NodeJS.ProcessEnv): z.output<T> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigurationError(`environment variable ${String(issue?.path[0])} ${issue?.message ?? 'is invalid'}`, { cause: describeIssues(result.error) });
  }
  return result.data as z.output<T>;
}

/** Reads the switchover function's environment once; a missing or bad variable is named in the error. */
export function switchoverEnvironment(env: NodeJS.ProcessEnv): SwitchoverEnvironment {
  const values = parsed(SwitchoverVariables, env);
  return {
    config: parseControllerConfig(values.PGPOOL_VIP_CONFIG, { ssmDocument: values.SSM_DOCUMENT_NAME }),
    ledgerTable: values.LEDGER_TABLE,
    busName: values.EVENT_BUS_NAME,
    accountId: values.ACCOUNT_ID,
    region: values.AWS_REGION,
    stsEndpoint: values.STS_ENDPOINT ? checkedStsEndpoint(values.STS_ENDPOINT, values.PGPOOL_VIP_EMULATED_AWS === 'true') : stsEndpointFor(values.AWS_REGION, {}),
  };
}

/** Reads the reconciler's environment: the configuration and the ledger, nothing it does not use. */
export function reconcileEnvironment(env: NodeJS.ProcessEnv): ReconcileEnvironment {
  const values = parsed(SharedVariables, env);
  return {
    config: parseControllerConfig(values.PGPOOL_VIP_CONFIG, { ssmDocument: values.SSM_DOCUMENT_NAME }),
    ledgerTable: values.LEDGER_TABLE,
  };
}

function checkedStsEndpoint(value: string, emulated: boolean): URL {
  const url = new URL(value);
  if (!emulated && (url.protocol !== 'https:' || !AWS_STS_HOST.test(url.hostname))) {
    throw new ConfigurationError(
      `environment variable STS_ENDPOINT must be an AWS STS endpoint (https://sts.<region>.amazonaws.com/), not ${url.origin}; proofs are replayed there`,
    );
  }
  return url;
}
