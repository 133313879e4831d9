import { constants, type Stats } from 'node:fs';
import { z } from 'zod';
import { ClusterNameSchema, DEFAULT_BUS_NAME, DEFAULT_LEDGER_TABLE_NAME, InterfaceNameSchema, Ipv4Schema, REGION_PATTERN, RouteTableIdSchema } from '../lib/contract.ts';
import { fieldName } from '../lib/errors.ts';
import { Deadline } from './deadline.ts';
import { UsageError } from './errors.ts';
import { fsCalls } from './fs-calls.ts';

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
    /** Ledger table name; the default is the `prod` stage's. */
    ledgerTable: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{3,255}$/, 'must be a DynamoDB table name')
      .default(DEFAULT_LEDGER_TABLE_NAME),
    /** Overrides the region IMDS reports. */
    region: z
      .string()
      .regex(REGION_PATTERN, 'must be an AWS region like eu-west-1')
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
    /**
     * The local fast path: on `up`, the agent puts the VIP on the interface itself (it needs
     * CAP_NET_ADMIN, given to pgpool by a systemd drop-in, docs/deploy.md) while the controller
     * moves the route, and SSM adds it only where the agent could not.
     */
    localAddress: z.boolean().default(false),
    /** Test-only: MAC to look up in IMDS instead of the interface's own. */
    interfaceMac: MacSchema.optional(),
    /** The controller's `memberTag` when it is not the default `pgpool-vip:cluster=<cluster>`; `doctor` checks it. */
    memberTag: z
      .object({ key: z.string().min(1).max(128), value: z.string().max(256) })
      .strict()
      .optional(),
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

/** A config is a few hundred bytes; anything far larger is not one. */
export const CONFIG_MAX_BYTES = 64 * 1024;
/** Reading the config gets this long, counted from the command's start, before any other deadline is known. */
export const CONFIG_READ_TIMEOUT_MS = 5000;

export interface ConfigReadOptions {
  /** Bounds the read (a hung mount); without one, CONFIG_READ_TIMEOUT_MS from now. */
  deadline?: Deadline;
  /** Receives a warning line (a config writable by group or others). */
  warn?: (line: string) => void;
}

/**
 * Reads and validates the agent's configuration file. pgpool never times out if_up_cmd, so the
 * read is bounded: the file is opened without blocking (a FIFO would wait for a writer forever),
 * must be a regular file of at most CONFIG_MAX_BYTES, and the whole read races a deadline.
 */
export async function loadAgentConfig(path: string, options: ConfigReadOptions = {}): Promise<AgentConfig> {
  const own = options.deadline === undefined ? new Deadline(CONFIG_READ_TIMEOUT_MS) : undefined;
  const deadline = options.deadline ?? own ?? new Deadline(CONFIG_READ_TIMEOUT_MS);
  let text: string;
  try {
    text = await deadline.race(`reading config ${path}`, () => readConfigText(path, options.warn ?? (() => undefined)));
  } finally {
    own?.dispose();
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`config ${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  return parseAgentConfig(document, path);
}

function fileKind(stat: Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  return 'not a file';
}

async function readConfigText(path: string, warn: (line: string) => void): Promise<string> {
  let fd: number;
  try {
    fd = await fsCalls.open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by this user' : `cannot be read (${code ?? 'error'})`;
    throw new UsageError(`config ${path} ${why}`, { cause: error });
  }
  try {
    const stat = await fsCalls.fstat(fd);
    if (!stat.isFile()) throw new UsageError(`config ${path} is not a regular file (it is ${fileKind(stat)})`);
    if (stat.size > CONFIG_MAX_BYTES) {
      throw new UsageError(`config ${path} is ${stat.size} bytes; a config is at most ${CONFIG_MAX_BYTES} bytes`);
    }
    const writable = [(stat.mode & 0o020) !== 0 ? 'group' : '', (stat.mode & 0o002) !== 0 ? 'others' : ''].filter(Boolean);
    if (writable.length > 0) {
      warn(
        `warning: config ${path} is writable by ${writable.join(' and ')} (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}): ` +
          `whoever can write it chooses the cluster, VIP and bus this node uses; run chmod go-w ${path}`,
      );
    }
    // One byte more than allowed: a file that grew since stat is caught too.
    const buffer = Buffer.alloc(CONFIG_MAX_BYTES + 1);
    const { bytesRead } = await fsCalls.read(fd, buffer, 0, buffer.length, 0);
    if (bytesRead > CONFIG_MAX_BYTES) throw new UsageError(`config ${path} is larger than ${CONFIG_MAX_BYTES} bytes`);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fsCalls.close(fd);
  }
}
