/** Base of every error this project raises on purpose; anything else is a bug or an AWS fault. */
export class PgpoolVipError extends Error {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PgpoolVipError';
  }
}

/** A configuration document (controller or agent) that does not fit its schema. */
export class ConfigurationError extends PgpoolVipError {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConfigurationError';
  }
}

/** Turns a zod issue path into the dotted field name users see in error messages. */
export function fieldName(path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return '(document)';
  return path
    .map((part, index) =>
      typeof part === 'number' ? `[${part}]` : `${index === 0 ? '' : '.'}${String(part)}`,
    )
    .join('');
}

/** Short text of an SDK or other error for reasons and logs: `Name: message`, at most 500 characters. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const name = error.name && error.name !== 'Error' ? `${error.name}: ` : '';
    return `${name}${error.message}`.slice(0, 500);
  }
  return String(error).slice(0, 500);
}
