import { reflect } from '../../lib/reflect.ts';

/** The parts of a SigV4 `authorization` header the controller checks before asking STS. */
export interface SigV4Authorization {
  accessKeyId: string;
  /** `YYYYMMDD` of the credential scope. */
  scopeDate: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

const ALGORITHM = 'AWS4-HMAC-SHA256 ';
const COMPONENTS = ['Credential', 'SignedHeaders', 'Signature'] as const;
type Component = (typeof COMPONENTS)[number];

const isDigit = (code: number): boolean => code >= 48 && code <= 57;
const isLowerAlnum = (code: number): boolean => isDigit(code) || (code >= 97 && code <= 122);
const isUpperAlnum = (code: number): boolean => isDigit(code) || (code >= 65 && code <= 90);
const isHex = (code: number): boolean => isDigit(code) || (code >= 97 && code <= 102);

function every(text: string, test: (code: number) => boolean): boolean {
  for (let index = 0; index < text.length; index += 1) if (!test(text.charCodeAt(index))) return false;
  return true;
}

/**
 * Parses `AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request,
 * SignedHeaders=<a;b;c>, Signature=<hex>` in one pass over the text, with no regular
 * expression: the header is attacker-chosen, so its cost must stay linear in its length.
 * Each component must appear exactly once. Returns the reason for refusal as a string.
 */
export function parseSigV4Authorization(header: string): SigV4Authorization | string {
  if (!header.startsWith(ALGORITHM)) return `authorization is not ${ALGORITHM.trim()} (starts ${reflect(header, 24)})`;
  const found = new Map<Component, string>();
  for (const part of header.slice(ALGORITHM.length).split(',')) {
    const component = part.trim();
    const equals = component.indexOf('=');
    const name = equals < 0 ? component : component.slice(0, equals);
    if (!(COMPONENTS as readonly string[]).includes(name)) {
      return `authorization has an unknown component ${reflect(name, 24)}`;
    }
    if (found.has(name as Component)) return `authorization has more than one ${name}= component`;
    found.set(name as Component, component.slice(equals + 1));
  }
  for (const name of COMPONENTS) if (!found.has(name)) return `authorization has no ${name}= component`;

  const scope = (found.get('Credential') ?? '').split('/');
  const [accessKeyId = '', scopeDate = '', region = '', service = '', terminator = ''] = scope;
  if (scope.length !== 5 || terminator !== 'aws4_request') {
    return 'authorization Credential= is not KEY/DATE/REGION/SERVICE/aws4_request';
  }
  if (accessKeyId.length < 16 || accessKeyId.length > 128 || !every(accessKeyId, isUpperAlnum)) {
    return 'authorization Credential= has no valid access key id';
  }
  if (scopeDate.length !== 8 || !every(scopeDate, isDigit)) return 'authorization Credential= has no valid date';
  if (region.length < 1 || region.length > 32 || !every(region, (code) => isLowerAlnum(code) || code === 45)) {
    return `authorization Credential= has no valid region (${reflect(region, 32)})`;
  }
  const signedHeaders = (found.get('SignedHeaders') ?? '').split(';');
  if (signedHeaders.some((name) => name.length === 0 || name.length > 64 || !every(name, (code) => isLowerAlnum(code) || code === 45))) {
    return 'authorization SignedHeaders= is not a list of lower-case header names';
  }
  const signature = found.get('Signature') ?? '';
  if (signature.length !== 64 || !every(signature, isHex)) return 'authorization Signature= is not 64 hex digits';
  return { accessKeyId, scopeDate, region, service, signedHeaders, signature };
}
