import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { LATENCY_CHOICES, type LatencyChoice } from '../local/front-door/latency-profile.ts';
import { MAX_SEED } from './soak/prng.ts';

/** The pgpool versions the drill runs: Debian bookworm's package, and the current release built from source. */
export const PGPOOL_VERSIONS = ['4.3', '4.7'] as const;
export type PgpoolVersion = (typeof PGPOOL_VERSIONS)[number];

/** What runs as pgpool's if_up_cmd/if_down_cmd: this project's agent, or the article's script. */
export const SCRIPTS = ['pgpool-vip', 'article'] as const;
export type Script = (typeof SCRIPTS)[number];

/** Who puts the VIP on pgpool-vip's new leader: SSM Run Command, or the agent itself (the local fast path). */
export const ADDRESS_CHOICES = ['ssm', 'local'] as const;
export type AddressChoice = (typeof ADDRESS_CHOICES)[number];

export interface DrillOptions {
  pgpool: PgpoolVersion;
  address: AddressChoice;
  /** What AWS calls of the agent and the controller cost: moto as it answers, or the AWS latency model. */
  latency: LatencyChoice;
  /**
   * The stage's `switchoverProvisionedConcurrency` under the latency model: that many
   * environments initialised ahead, so an invocation that finds one free pays no cold init.
   */
  provisioned: number;
  /** null: the scenarios, both scripts; otherwise a soak of that many sequences. */
  soak: { sequences: number; seed: number; seedGiven: boolean; script: Script; out: string } | null;
}

/** The most --provisioned takes: the stage's default reserved concurrency, its ceiling. */
export const MAX_PROVISIONED = 20;

export const USAGE = `usage: npm run drill -- [--pgpool 4.3|4.7] [--latency moto|aws] [--provisioned N] [--address ssm|local] [--soak N [--seed S] [--script pgpool-vip|article] [--out DIR]]
  --pgpool   pgpool version on the nodes: 4.3 (Debian's package, default) or 4.7 (4.7.2, built from ../shared/vendor once)
  --latency  moto (default: moto's own answer times) or aws (the AWS latency model for the agent and the controller)
  --provisioned N  under --latency aws: the switchover function's provisioned concurrency (the stage's
             switchoverProvisionedConcurrency, 0-${MAX_PROVISIONED}; default 0, every invocation pays a cold init)
  --address  who puts the VIP on pgpool-vip's new leader: ssm (default: SSM Run Command) or local (pgpool keeps
             CAP_NET_ADMIN and the agent adds it itself, localAddress in its config)
  --soak N   N random sequences of failures (1-200) with pgpool's default watchdog timings, instead of the scenarios
  --seed S   the soak's seed (0-${MAX_SEED}); a random one when not given (printed at the start)
  --script   what pgpool runs as if_up_cmd/if_down_cmd in the soak: pgpool-vip (default) or article
  --out DIR  where soak-report.json and soak-timelines/ go (default: the repository root)`;

const Flags = z
  .object({
    pgpool: z.enum(PGPOOL_VERSIONS).default('4.3'),
    latency: z.enum(LATENCY_CHOICES).default('moto'),
    address: z.enum(ADDRESS_CHOICES).default('ssm'),
    provisioned: z
      .string()
      .regex(/^\d+$/, 'a whole number of environments')
      .transform(Number)
      .pipe(z.number().int().min(0).max(MAX_PROVISIONED))
      .default('0'),
    soak: z.coerce.number().int().min(1).max(200).optional(),
    seed: z
      .string()
      .regex(/^\d+$/, 'the seed is a whole number')
      .transform(Number)
      .pipe(z.number().int().min(0).max(MAX_SEED))
      .optional(),
    script: z.enum(SCRIPTS).optional(),
    out: z.string().min(1).optional(),
  })
  .strict();

/** Parses the drill's flags; throws an Error whose message says what is wrong. */
export function parseDrillOptions(argv: readonly string[], defaultOut: string): DrillOptions {
  const flags: Record<string, string> = {};
  for (let index = 0; index < argv.length; index += 1) {
    const flag = argv[index] ?? '';
    const match = /^--([a-z]+)(?:=(.*))?$/.exec(flag);
    if (match === null) throw new Error(`unexpected argument '${flag}'`);
    const [, name = '', inline] = match;
    const value = inline ?? argv[index + 1];
    if (value === undefined || (inline === undefined && value.startsWith('--'))) throw new Error(`--${name} needs a value`);
    if (inline === undefined) index += 1;
    if (name in flags) throw new Error(`--${name} given twice`);
    flags[name] = value;
  }
  const parsed = Flags.safeParse(flags);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') ?? '';
    throw new Error(issue?.code === 'unrecognized_keys' ? `unknown flag: ${issue.keys.map((key) => `--${key}`).join(', ')}` : `--${where}: ${issue?.message ?? 'invalid'}`);
  }
  const { pgpool, latency, address, provisioned, soak, seed, script, out } = parsed.data;
  if (soak !== undefined && address !== 'ssm') throw new Error('--address local is for the scenarios; the soak runs with SSM');
  if (provisioned > 0 && latency !== 'aws') throw new Error('--provisioned models the cold init of --latency aws; under moto no cold init is modelled');
  if (provisioned > 0 && soak !== undefined) throw new Error('--provisioned is for the scenarios; the soak runs without it');
  if (soak === undefined) {
    if (seed !== undefined || script !== undefined || out !== undefined) throw new Error('--seed, --script and --out belong to --soak N');
    return { pgpool, latency, address, provisioned, soak: null };
  }
  return {
    pgpool,
    latency,
    address,
    provisioned,
    soak: { sequences: soak, seed: seed ?? randomInt(0, MAX_SEED), seedGiven: seed !== undefined, script: script ?? 'pgpool-vip', out: out ?? defaultOut },
  };
}
