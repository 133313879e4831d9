/**
 * Text that came from a request (or from anyone but this code) and goes into a reason, a log
 * line or the audit trail: cut to a few dozen characters and escaped, so a hostile value can
 * neither bloat the record nor carry markup, quotes or control characters into whatever reads
 * the trail later.
 */
export const REFLECTED_MAX_CHARS = 64;
/** Every reason stored in the ledger and put on the bus is at most this long. */
export const REASON_MAX_CHARS = 1000;

const SAFE = /^[\x20-\x7e]$/;
/** Printable characters escaped in a reflected value: quotes (it is quoted) and markup. */
const QUOTED_UNSAFE = new Set(['"', '\\', '<', '>', '&', '`', "'"]);
/** In a whole reason, quotes are this code's own: only markup is escaped. */
const REASON_UNSAFE = new Set(['<', '>', '&', '`']);

function escapeChar(char: string, unsafe: ReadonlySet<string>): string {
  if (SAFE.test(char) && !unsafe.has(char)) return char;
  const code = char.codePointAt(0) ?? 0;
  return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** Escapes everything but plain printable ASCII as `\uXXXX`. */
export function escapeText(text: string, unsafe: ReadonlySet<string> = QUOTED_UNSAFE): string {
  let out = '';
  for (const char of text) out += escapeChar(char, unsafe);
  return out;
}

/** A foreign value for a message: quoted, escaped, and cut with its true length said. */
export function reflect(value: unknown, maxChars = REFLECTED_MAX_CHARS): string {
  if (value === undefined) return '(none)';
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? typeof value);
  const chars = [...text];
  if (chars.length <= maxChars) return `"${escapeText(text)}"`;
  return `"${escapeText(chars.slice(0, maxChars).join(''))}"... (${chars.length} characters)`;
}

/**
 * The last guard before a reason is stored: escaped and bounded whatever built it. Reasons are
 * built by this code from values already passed through `reflect`, so this changes nothing in
 * the usual case.
 */
export function boundReason(reason: string, maxChars = REASON_MAX_CHARS): string {
  const escaped = escapeText(reason, REASON_UNSAFE);
  return escaped.length <= maxChars ? escaped : `${escaped.slice(0, maxChars - 20)}... (cut at ${maxChars})`;
}
