import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { Random } from './random.ts';

/**
 * Where a figure comes from: a public source (AWS documentation or a published measurement), or
 * an assumption, said as such, with the reasoning behind it.
 */
const FigureSchema = z
  .object({
    p50Ms: z.number().nonnegative(),
    p99Ms: z.number().nonnegative(),
    basis: z.enum(['published', 'derived', 'assumption']),
    source: z.string().min(1),
  })
  .strict()
  .refine((figure) => figure.p99Ms >= figure.p50Ms, { message: 'p99Ms must not be below p50Ms' });
export type LatencyFigure = z.infer<typeof FigureSchema>;

/** Delays of calls that go through the front door. */
export const CALL_KINDS = [
  'ec2-read',
  'ec2-write',
  'dynamodb',
  'dynamodb-transaction',
  'sts',
  'ssm-send-command',
  'ssm-get-command-invocation',
  'eventbridge-put-events',
] as const;
export type CallKind = (typeof CALL_KINDS)[number];

/** Delays of things that are not HTTP calls here: the local controller and SSM executor apply them. */
export const HOOK_KINDS = ['eventbridge-delivery', 'lambda-cold-init', 'ssm-delivery'] as const;
export type HookKind = (typeof HOOK_KINDS)[number];

const ProfileSchema = z
  .object({
    name: z.string().min(1),
    description: z.string(),
    /** How the delay of one call is drawn: log-normal through p50 and p99, capped at capFactor x p99. */
    jitter: z.object({ distribution: z.literal('lognormal'), capFactor: z.number().min(1).max(10) }).strict(),
    calls: z.object(Object.fromEntries(CALL_KINDS.map((kind) => [kind, FigureSchema])) as Record<CallKind, typeof FigureSchema>).strict(),
    hooks: z.object(Object.fromEntries(HOOK_KINDS.map((kind) => [kind, FigureSchema])) as Record<HookKind, typeof FigureSchema>).strict(),
  })
  .strict();
export type LatencyProfileFile = z.infer<typeof ProfileSchema>;

/** A latency model: draws the delay of one call or hook. `moto` adds nothing. */
export interface LatencyModel {
  readonly name: string;
  callDelayMs(kind: CallKind): number;
  hookDelayMs(kind: HookKind): number;
}

export const LATENCY_CHOICES = ['moto', 'aws'] as const;
export type LatencyChoice = (typeof LATENCY_CHOICES)[number];

/** The profile of `--latency aws`. */
export const AWS_PROFILE_PATH = fileURLToPath(new URL('../../config/latency-aws.json', import.meta.url));

export const NO_LATENCY: LatencyModel = { name: 'moto', callDelayMs: () => 0, hookDelayMs: () => 0 };

/** Reads and checks a profile file; a bad file is refused with the field that is wrong. */
export function readLatencyProfile(path: string): LatencyProfileFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`latency profile ${path} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  const parsed = ProfileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`latency profile ${path}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'invalid'}`.trim());
  }
  return parsed.data;
}

/** The z-score of the 99th percentile of a standard normal distribution. */
const Z99 = 2.3263;

/** Draws delays from a profile: log-normal with median p50 and 99th percentile p99. */
export function latencyModel(profile: LatencyProfileFile, random: Random): LatencyModel {
  const draw = (figure: LatencyFigure): number => {
    if (figure.p50Ms === 0) return 0;
    const sigma = Math.log(Math.max(figure.p99Ms, figure.p50Ms) / figure.p50Ms) / Z99;
    const value = figure.p50Ms * Math.exp(sigma * standardNormal(random));
    return Math.min(value, figure.p99Ms * profile.jitter.capFactor);
  };
  return {
    name: profile.name,
    callDelayMs: (kind) => draw(profile.calls[kind]),
    hookDelayMs: (kind) => draw(profile.hooks[kind]),
  };
}

/** `--latency moto|aws` as a model; aws reads the project's profile. */
export function latencyFor(choice: LatencyChoice, random: Random): LatencyModel {
  return choice === 'moto' ? NO_LATENCY : latencyModel(readLatencyProfile(AWS_PROFILE_PATH), random);
}

/** Parses a `--latency` value; anything else is refused. */
export function parseLatencyChoice(value: string | undefined): LatencyChoice {
  const choice = value ?? 'moto';
  if (!(LATENCY_CHOICES as readonly string[]).includes(choice)) {
    throw new Error(`--latency must be one of ${LATENCY_CHOICES.join(', ')}, got "${choice}"`);
  }
  return choice as LatencyChoice;
}

/**
 * The `--latency moto|aws` option of a command line (`--latency aws` or `--latency=aws`);
 * moto when absent. A bad or missing value is refused before anything starts.
 */
export function latencyOption(argv: readonly string[]): LatencyChoice {
  let value: string | undefined;
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index] ?? '';
    if (arg === '--latency') {
      value = argv[index + 1];
      if (value === undefined || value.startsWith('--')) throw new Error(`--latency needs a value: ${LATENCY_CHOICES.join(' or ')}`);
    } else if (arg.startsWith('--latency=')) {
      value = arg.slice('--latency='.length);
    }
  }
  return parseLatencyChoice(value);
}

/** Box-Muller: one standard normal draw from two uniform ones. */
function standardNormal(random: Random): number {
  const u = Math.max(random(), Number.EPSILON);
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
