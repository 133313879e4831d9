import { PgpoolVipError } from '../../lib/errors.ts';

/** Steps of a switchover, named in `failed` outcomes and in the audit's durations. */
export type SwitchoverStep =
  | 'parse'
  | 'configuration'
  | 'verify'
  | 'claim'
  | 'validate'
  | 'decide'
  | 'ledger'
  | 'route'
  | 'ssm-add'
  | 'ssm-remove'
  | 'record';

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

/** Short text of an SDK or other error for reasons and logs: `Name: message`. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const name = error.name && error.name !== 'Error' ? `${error.name}: ` : '';
    return `${name}${error.message}`.slice(0, 500);
  }
  return String(error).slice(0, 500);
}
