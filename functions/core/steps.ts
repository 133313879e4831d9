import { describeError, PgpoolVipError } from '../../lib/errors.ts';

/**
 * Steps of a switchover, in the order they run; named in `failed` and `rejected` outcomes
 * (`failedStep`) and as the keys of the audit's `durationsMs`. `unexpected` is a fault outside
 * any step (a bug).
 */
export const SWITCHOVER_STEPS = [
  'parse',
  'configuration',
  'verify',
  'read',
  'claim',
  'validate',
  'decide',
  'ledger',
  'source-dest-check',
  'route',
  'ssm-add',
  'ssm-remove',
  'late-writes',
  'record',
  'unexpected',
] as const;
export type SwitchoverStep = (typeof SWITCHOVER_STEPS)[number];

/** The request is refused: its sender, content or proof is not acceptable. Nothing was changed. */
export class RequestRejectedError extends PgpoolVipError {
  public readonly step: SwitchoverStep;
  public constructor(step: SwitchoverStep, reason: string, options?: ErrorOptions) {
    super(reason, options);
    this.name = 'RequestRejectedError';
    this.step = step;
  }
}

/** A step could not be carried out (AWS fault, misconfiguration, timeout). A retry may converge. */
export class StepFailedError extends PgpoolVipError {
  public readonly step: SwitchoverStep;
  public constructor(step: SwitchoverStep, reason: string, options?: ErrorOptions) {
    super(reason, options);
    this.name = 'StepFailedError';
    this.step = step;
  }
}

/** An error no step anticipated (an SDK fault, a bug), raised in the step it happened in. */
export class StepFaultError extends StepFailedError {
  public constructor(step: SwitchoverStep, cause: unknown) {
    super(step, describeError(cause), { cause });
    this.name = 'StepFaultError';
  }
}

export type Durations = Partial<Record<SwitchoverStep, number>>;

/** Runs one named step: adds its time to `durations`, and names it in any error it throws. */
export type Step = <T>(name: SwitchoverStep, work: () => Promise<T> | T) => Promise<T>;

/**
 * The step wrapper of one switchover. A refusal or failure that already names its step keeps
 * it; any other error (an SDK fault) becomes a failure of the step it happened in. Once `cutoff`
 * is aborted, the step running then fails at once, naming itself and the cutoff's reason, and
 * every later step fails before it starts: whatever a hung call is still doing, the switchover
 * moves on to record its outcome.
 */
export function stepTimer(clock: () => number = () => performance.now(), cutoff?: AbortSignal): { step: Step; durations: Durations } {
  const durations: Durations = {};
  const step: Step = async (name, work) => {
    const started = clock();
    try {
      return cutoff === undefined ? await work() : await beforeCutoff(name, work, cutoff);
    } catch (error) {
      if (error instanceof RequestRejectedError || error instanceof StepFailedError) throw error;
      throw new StepFaultError(name, error);
    } finally {
      durations[name] = Math.round((durations[name] ?? 0) + clock() - started);
    }
  };
  return { step, durations };
}

/** The work's result, or a failure of the step as soon as the cutoff comes, whichever is first. */
async function beforeCutoff<T>(name: SwitchoverStep, work: () => Promise<T> | T, cutoff: AbortSignal): Promise<T> {
  const outOfTime = () => new StepFailedError(name, `out of time: ${String(cutoff.reason instanceof Error ? cutoff.reason.message : cutoff.reason)}`);
  if (cutoff.aborted) throw outOfTime();
  let onAbort: () => void = () => undefined;
  const cut = new Promise<never>((_, reject) => {
    onAbort = () => reject(outOfTime());
    cutoff.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([Promise.resolve().then(work), cut]);
  } finally {
    cutoff.removeEventListener('abort', onAbort);
  }
}

/** What a thrown error means for the outcome: who is to blame, at which step, and why. */
export function verdictOfError(error: unknown): { outcome: 'rejected' | 'failed'; failedStep: SwitchoverStep; reason: string } {
  if (error instanceof RequestRejectedError) return { outcome: 'rejected', failedStep: error.step, reason: error.message };
  if (error instanceof StepFailedError) return { outcome: 'failed', failedStep: error.step, reason: error.message };
  return { outcome: 'failed', failedStep: 'unexpected', reason: describeError(error) };
}
