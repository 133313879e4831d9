import { PgpoolVipError } from '../lib/errors.ts';

/** Exit codes pgpool sees: it only logs them, so stderr carries the reason. */
export const EXIT = {
  done: 0,
  failed: 1,
  usage: 2,
  timedOut: 3,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the agent reports as one stderr line and a chosen exit code. */
export class AgentError extends PgpoolVipError {
  public readonly exitCode: ExitCode;

  public constructor(message: string, exitCode: ExitCode, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AgentError';
    this.exitCode = exitCode;
  }
}

/** Bad arguments, a bad configuration file or an interface this host does not have: nothing was sent. */
export class UsageError extends AgentError {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, EXIT.usage, options);
    this.name = 'UsageError';
  }
}

/** The controller answered rejected, failed or stale, or a step on the node failed. */
export class SwitchoverFailedError extends AgentError {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, EXIT.failed, options);
    this.name = 'SwitchoverFailedError';
  }
}

/** The deadline passed before the step named in the message finished. */
export class DeadlineReachedError extends AgentError {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, EXIT.timedOut, options);
    this.name = 'DeadlineReachedError';
  }
}

/** `Name: message` of an AWS SDK or network error, on one line. */
export function describeAwsError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const name = error.name !== 'Error' ? error.name : typeof code === 'string' ? code : 'Error';
    const message = error.message.trim();
    const cause = (error.cause as { code?: unknown } | undefined)?.code;
    const because = typeof cause === 'string' && !message.includes(cause) ? ` (${cause})` : '';
    return oneLine(`${message === '' || message === name ? name : `${name}: ${message}`}${because}`);
  }
  return oneLine(String(error));
}

/** pgpool logs each stderr line separately: keep every message on one line. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
