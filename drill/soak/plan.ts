import { seededRandom, sequenceSeed, type Random } from './prng.ts';

/**
 * What a soak step does, drawn before the run and independent of the cluster's state: a target
 * is a role (the leader, or the first/second standby by name), resolved when the step runs.
 */
export type Target = { role: 'leader' } | { role: 'standby'; pick: 0 | 1 };
/** kill -9 of every pgpool process (a crash, no if_down_cmd), or `pgpool -m fast stop` (planned). */
export type Fault = 'kill' | 'stop';

export type Step =
  /** A node fails; once pgpool has reacted (or after restartAfterSeconds for a standby) it restarts. */
  | { kind: 'fail-restart'; fault: Fault; target: Target; restartAfterSeconds: number }
  /** A node is cut off from the other pgpool nodes (AWS, app, backend still reachable), then healed. */
  | { kind: 'isolate-heal'; target: Target; holdSeconds: number }
  /**
   * The leader fails; while its successor's if_up_cmd runs, the successor is isolated. The
   * failed node restarts after restartAfterSeconds, the partition heals after healAfterSeconds.
   */
  | { kind: 'isolate-during-switchover'; fault: Fault; restartAfterSeconds: number; healAfterSeconds: number }
  /** Two nodes fail gapSeconds apart (0-40 s); both restart once pgpool has reacted. */
  | { kind: 'two-failures'; first: { fault: Fault; target: Target }; second: { fault: Fault; target: Target }; gapSeconds: number; restartAfterSeconds: number }
  /**
   * One node is isolated and, before the heal, another one fails: restart first or heal first,
   * drawn by restartFirst.
   */
  | { kind: 'overlapping'; isolate: Target; fault: Fault; target: Target; afterSeconds: number; holdSeconds: number; restartFirst: boolean };

export interface SequencePlan {
  index: number;
  seed: number;
  steps: Step[];
}

export const STEP_KINDS = ['fail-restart', 'isolate-heal', 'isolate-during-switchover', 'two-failures', 'overlapping'] as const;
/** Failure steps per sequence: 20 sequences make 60 steps. */
export const STEPS_PER_SEQUENCE = 3;

function target(random: Random): Target {
  return random.next() < 0.5 ? { role: 'leader' } : { role: 'standby', pick: random.int(0, 1) as 0 | 1 };
}

function fault(random: Random): Fault {
  return random.next() < 0.5 ? 'kill' : 'stop';
}

export function drawStep(random: Random): Step {
  const kind = random.pick(STEP_KINDS);
  switch (kind) {
    case 'fail-restart':
      return { kind, fault: fault(random), target: target(random), restartAfterSeconds: random.int(0, 15) };
    case 'isolate-heal':
      return { kind, target: target(random), holdSeconds: random.int(0, 20) };
    case 'isolate-during-switchover':
      return { kind, fault: fault(random), restartAfterSeconds: random.int(0, 20), healAfterSeconds: random.int(10, 40) };
    case 'two-failures':
      return {
        kind,
        first: { fault: fault(random), target: target(random) },
        second: { fault: fault(random), target: target(random) },
        gapSeconds: random.int(0, 40),
        restartAfterSeconds: random.int(0, 10),
      };
    case 'overlapping':
      return {
        kind,
        isolate: target(random),
        fault: fault(random),
        target: target(random),
        afterSeconds: random.int(0, 20),
        holdSeconds: random.int(0, 20),
        restartFirst: random.next() < 0.5,
      };
  }
}

/** The steps of sequence `index` of a soak with `soakSeed`: the same for every pgpool and script. */
export function planSequence(soakSeed: number, index: number, steps = STEPS_PER_SEQUENCE): SequencePlan {
  const seed = sequenceSeed(soakSeed, index);
  const random = seededRandom(seed);
  return { index, seed, steps: Array.from({ length: steps }, () => drawStep(random)) };
}

/** One line for the log and the report. */
export function describeStep(step: Step): string {
  const who = (t: Target): string => (t.role === 'leader' ? 'the leader' : `standby #${t.pick + 1}`);
  const how = (f: Fault): string => (f === 'kill' ? 'kill -9' : 'pgpool -m fast stop');
  switch (step.kind) {
    case 'fail-restart':
      return `${how(step.fault)} of ${who(step.target)}, restart ${step.restartAfterSeconds}s after pgpool reacted`;
    case 'isolate-heal':
      return `isolate ${who(step.target)}, heal ${step.holdSeconds}s after pgpool reacted`;
    case 'isolate-during-switchover':
      return `${how(step.fault)} of the leader, isolate its successor while its if_up_cmd runs; restart after ${step.restartAfterSeconds}s, heal after ${step.healAfterSeconds}s`;
    case 'two-failures':
      return `${how(step.first.fault)} of ${who(step.first.target)}, ${step.gapSeconds}s later ${how(step.second.fault)} of ${who(step.second.target)}; restart both ${step.restartAfterSeconds}s after pgpool reacted`;
    case 'overlapping':
      return `isolate ${who(step.isolate)}, ${step.afterSeconds}s later ${how(step.fault)} of ${who(step.target)}; ${step.restartFirst ? 'restart, then heal' : 'heal, then restart'} ${step.holdSeconds}s later`;
  }
}
