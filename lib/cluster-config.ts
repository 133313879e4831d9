import { z } from 'zod';
import {
  ClusterNameSchema,
  InterfaceNameSchema,
  Ipv4Schema,
  RouteTableIdSchema,
} from './contract.ts';
import { ConfigurationError, fieldName } from './errors.ts';
import { escapeText, reflect } from './reflect.ts';

const TagSchema = z.object({ key: z.string().min(1).max(128), value: z.string().max(256) }).strict();

/** One pgpool cluster the controller serves. The event can never name any of this. */
export const ClusterSchema = z
  .object({
    name: ClusterNameSchema,
    vip: Ipv4Schema,
    routeTables: z.array(RouteTableIdSchema).min(1, 'needs at least one route table'),
    allowedRoles: z
      .array(z.string().regex(/^[\w+=,.@-]{1,64}$/, 'must be an IAM role name (not an ARN)'))
      .min(1, 'needs at least one role name'),
    /** Instances must carry this tag to be members; default `pgpool-vip:cluster=<name>`. */
    memberTag: TagSchema.optional(),
    interface: InterfaceNameSchema.default('eth0'),
    /** SSM document that adds/removes the VIP; default from the deployment. */
    ssmDocument: z.string().regex(/^[a-zA-Z0-9_.-]{3,128}$/, 'must be an SSM document name').optional(),
    /** Disable the ENI's source/dest check when it is found enabled (else reject). */
    manageSourceDestCheck: z.boolean().default(true),
    /** Let the reconciler move the route back to the ledger's holder on drift. */
    heal: z.boolean().default(false),
    /**
     * Removed: the split-brain guard no longer holds a displaced node for a time; it tells a
     * re-acquire from a new claim by the requester's incarnation. Refused so an operator who tuned
     * it learns that it no longer does anything (docs/deploy.md).
     */
    displacedHoldSeconds: z
      .undefined({
        errorMap: () => ({
          message:
            'was removed: a displaced node is no longer held for a time (the controller tells a re-acquire from a new claim by the pgpool incarnation the agent sends); delete the field',
        }),
      })
      .optional(),
    /** Let the reconciler ask the holder (SSM, at most every 5 minutes) whether the VIP is on its interface. */
    checkInterface: z.boolean().default(true),
  })
  .strict();

/** Addresses a VPC route cannot send to one node: never a VIP. */
const SPECIAL_USE_RANGES: ReadonlyArray<readonly [string, string]> = [
  ['0.0.0.0/8', '"this network"'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local (the instance metadata service and the Amazon DNS and time services live there)'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'the broadcast address'],
  ['240.0.0.0/4', 'reserved'],
];

function memberTagOf(cluster: { name: string; memberTag?: { key: string; value: string } | undefined }): { key: string; value: string } {
  return cluster.memberTag ?? { key: MEMBER_TAG_KEY, value: cluster.name };
}

export const ControllerConfigSchema = z
  .object({
    clusters: z.array(ClusterSchema).min(1, 'needs at least one cluster'),
    /** Maximum age of a proof's X-Amz-Date, in seconds. */
    proofFreshnessSeconds: z.number().int().min(5).max(900).default(60),
    /** How long the controller waits for the SSM command on the new holder. */
    ssmWaitSeconds: z.number().int().min(1).max(120).default(20),
    /** How long request records stay in the ledger. */
    ledgerTtlDays: z.number().int().min(1).max(3650).default(90),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.clusters.forEach((cluster, index) => {
      const first = seen.get(cluster.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['clusters', index, 'name'],
          message: `duplicates clusters[${first}].name "${cluster.name}"`,
        });
      }
      seen.set(cluster.name, index);
      const vipOwner = config.clusters.findIndex((other) => other.vip === cluster.vip);
      if (vipOwner !== index) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['clusters', index, 'vip'],
          message: `${cluster.vip} is already the VIP of clusters[${vipOwner}]`,
        });
      }
      const specialUse = SPECIAL_USE_RANGES.find(([cidr]) => ipv4InCidr(cluster.vip, cidr));
      if (specialUse !== undefined) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['clusters', index, 'vip'],
          message: `${cluster.vip} is ${specialUse[1]} (${specialUse[0]}), which a VPC route cannot carry to a node; choose an address outside the VPC CIDR, e.g. from 198.18.0.0/15 or your own private range`,
        });
      }
      const tag = memberTagOf(cluster);
      const tagOwner = config.clusters.findIndex((other) => {
        const otherTag = memberTagOf(other);
        return otherTag.key === tag.key && otherTag.value === tag.value;
      });
      if (tagOwner !== index) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['clusters', index, 'memberTag'],
          message: `${tag.key}=${tag.value} is already the member tag of clusters[${tagOwner}]: a member of one cluster could move the other's VIP`,
        });
      }
      if (new Set(cluster.routeTables).size !== cluster.routeTables.length) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['clusters', index, 'routeTables'],
          message: 'lists a route table twice',
        });
      }
    });
  });

export type ControllerConfigInput = z.input<typeof ControllerConfigSchema>;
type ParsedControllerConfig = z.output<typeof ControllerConfigSchema>;
export type ClusterConfig = Omit<ParsedControllerConfig['clusters'][number], 'memberTag' | 'ssmDocument' | 'displacedHoldSeconds'> & {
  memberTag: { key: string; value: string };
  ssmDocument: string;
};
export type ControllerConfig = Omit<ParsedControllerConfig, 'clusters'> & { clusters: ClusterConfig[] };

export const MEMBER_TAG_KEY = 'pgpool-vip:cluster';
export const DEFAULT_SSM_DOCUMENT = 'pgpool-vip-address';

/** Formats the first few zod issues as `field: message` so a user can fix the file at once. */
export function describeIssues(error: z.ZodError, prefix = ''): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length === 0 && prefix !== '' ? prefix.replace(/\.$/, '') : `${prefix}${boundedFieldName(issue.path)}`}: ${issueMessage(issue)}`)
    .join('; ');
}

/** Field names can be keys the sender chose (unknown fields, header names): each is bounded. */
function boundedFieldName(path: ReadonlyArray<PropertyKey>): string {
  const safe = /^[A-Za-z0-9_.-]{1,40}$/;
  return fieldName(path.map((part) => (typeof part === 'number' || safe.test(String(part)) ? part : reflect(String(part), 24))));
}

/** zod's own messages quote the received value or keys: those are bounded and escaped here. */
function issueMessage(issue: z.ZodIssue): string {
  if (issue.code === z.ZodIssueCode.unrecognized_keys) {
    const shown = issue.keys.slice(0, 3).map((key) => reflect(key, 24)).join(', ');
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${shown}${issue.keys.length > 3 ? ` and ${issue.keys.length - 3} more` : ''}`;
  }
  if (issue.code === z.ZodIssueCode.invalid_enum_value) {
    return `must be one of ${issue.options.map((option) => String(option)).join(', ')}, not ${reflect(issue.received, 24)}`;
  }
  return escapeText(issue.message.length > 200 ? `${issue.message.slice(0, 200)}...` : issue.message, MESSAGE_UNSAFE);
}
const MESSAGE_UNSAFE = new Set(['<', '>', '&', '`']);

/**
 * Validates the controller's cluster configuration (a JSON text or an already parsed value)
 * and fills defaults. Throws ConfigurationError naming the bad field.
 */
export function parseControllerConfig(
  source: unknown,
  defaults: { ssmDocument?: string } = {},
): ControllerConfig {
  let raw: unknown = source;
  if (typeof source === 'string') {
    try {
      raw = JSON.parse(source);
    } catch (error) {
      throw new ConfigurationError(`cluster configuration is not JSON: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  const parsed = ControllerConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigurationError(`cluster configuration invalid: ${describeIssues(parsed.error)}`, {
      cause: parsed.error,
    });
  }
  return {
    ...parsed.data,
    clusters: parsed.data.clusters.map(({ displacedHoldSeconds: _removed, ...cluster }) => ({
      ...cluster,
      memberTag: cluster.memberTag ?? { key: MEMBER_TAG_KEY, value: cluster.name },
      ssmDocument: cluster.ssmDocument ?? defaults.ssmDocument ?? DEFAULT_SSM_DOCUMENT,
    })),
  };
}

/** True when `ip` lies inside the IPv4 CIDR block `cidr`. */
export function ipv4InCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (base === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((ipv4ToNumber(ip) & mask) >>> 0) === ((ipv4ToNumber(base) & mask) >>> 0);
}

function ipv4ToNumber(ip: string): number {
  return ip.split('.').reduce((acc, octet) => ((acc << 8) | Number(octet)) >>> 0, 0);
}
