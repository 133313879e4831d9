import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.ts';
import type { UnsignedRequestDetail } from './contract.ts';

/** SHA-256 (hex) of the canonical JSON of every detail field except the proof itself. */
export function requestDigest(detail: UnsignedRequestDetail | (UnsignedRequestDetail & { proof?: unknown })): string {
  const { proof: _proof, ...unsigned } = detail as UnsignedRequestDetail & { proof?: unknown };
  return createHash('sha256').update(canonicalJson(unsigned), 'utf8').digest('hex');
}
