import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ClusterNameSchema, DEFAULT_BUS_NAME, InterfaceNameSchema, Ipv4Schema, RouteTableIdSchema } from '../lib/contract.ts';
import { fieldName } from '../lib/errors.ts';
import { UsageError } from './errors.ts';

/** Where the agent looks for its configuration when neither `--config` nor the env variable says otherwise. */
export const DEFAULT_CONFIG_PATH = '/etc/pgpool-vip/agent.json';
/**
 * Path of the agent's configuration file. Not `PGPOOL_VIP_CONFIG`: that name is the
 * controller's configuration text, and pgpool's environment may well carry both.
 */
export const CONFIG_PATH_ENV = 'PGPOOL_VIP_AGENT_CONFIG';
/** Test-only: the MAC to look up in IMDS instead of the interface's own (a simulated instance's MAC). */
export const INTERFACE_MAC_ENV = 'PGPOOL_VIP_INTERFACE_MAC';

const MacSchema = z
  .string()
  .regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, 'must be a MAC address like 0a:1b:2c:3d:4e:5f')
  .transform((mac) => mac.toLowerCase());

/**
 * `/etc/pgpool-vip/agent.json`, e.g.
 * {"cluster":"main","vip":"198.19.0.50","bus":"pgpool-vip","ledgerTable":"pgpool-vip-ledger"}
 */
export const AgentConfigSchema = z
  .object({
    cluster: ClusterNameSchema,
    /** The cluster's VIP; the VIP argument pgpool passes must equal it. */
    vip: Ipv4Schema,
    /** Event bus name or ARN. */
    bus: z
      .string()
      .regex(/^[A-Za-z0-9._\-/:]{1,1600}$/, 'must be an event bus name or ARN')
      .default(DEFAULT_BUS_NAME),
    ledgerTable: z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, 'must be a DynamoDB table name'),
    /** Overrides the region IMDS reports. */
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, 'must be an AWS region like eu-west-1')
      .optional(),
    /** The whole command, IMDS to interface check, ends by then (pgpool itself never times it out). */
    deadlineSeconds: z.number().int().min(1).max(600).default(30),
    pollIntervalMs: z.number().int().min(20).max(5000).default(250),
    /** Interface `status` and `doctor` look at when none is given on the command line. */
    interface: InterfaceNameSchema.default('eth0'),
    /** Limits `status` to these tables; by default every table with a route for the VIP. */
    routeTables: z.array(RouteTableIdSchema).min(1, 'needs at least one route table when present').optional(),
    /** false only where the VIP cannot reach a real interface (local demo without root). */
    checkInterface: z.boolean().default(true),
    /** Test-only: MAC to look up in IMDS instead of the interface's own. */
    interfaceMac: MacSchema.optional(),
  })
  .strict();
export type AgentConfig = z.output<typeof AgentConfigSchema>;
export type AgentConfigInput = z.input<typeof AgentConfigSchema>;

/** The config path: `--config`, else the env variable, else the default. */
export function configPathFrom(option: string | undefined, env: NodeJS.ProcessEnv): string {
  const fromEnv = env[CONFIG_PATH_ENV];
  return option ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_CONFIG_PATH);
}

/** Validates a parsed document; a UsageError names the first bad field. */
export function parseAgentConfig(document: unknown, path: string): AgentConfig {
  const parsed = AgentConfigSchema.safeParse(document);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (issue === undefined) throw new UsageError(`config ${path} is invalid`);
  if (issue.code === z.ZodIssueCode.unrecognized_keys) {
    const where = issue.path.length === 0 ? '' : ` in ${fieldName(issue.path)}`;
    throw new UsageError(`config ${path}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}${where}`);
  }
  const message = issue.code === z.ZodIssueCode.invalid_type && issue.received === 'undefined' ? 'is required' : issue.message;
  throw new UsageError(`config ${path}: ${fieldName(issue.path)} ${message}`);
}

/** Reads and validates the agent's configuration file. */
export async function loadAgentConfig(path: string): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by this user' : `cannot be read (${code ?? 'error'})`;
    throw new UsageError(`config ${path} ${why}`, { cause: error });
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`config ${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  return parseAgentConfig(document, path);
}
