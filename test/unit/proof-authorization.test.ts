import { describe, expect, it } from 'vitest';
import { parseSigV4Authorization } from '../../functions/core/authorization.ts';

const SIGNATURE = 'a'.repeat(64);
const VALID = `AWS4-HMAC-SHA256 Credential=ASIAPGPOOLVIPTEST001/20261125/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date;x-pgpool-vip-digest, Signature=${SIGNATURE}`;

describe('Unit: the SigV4 authorization header parser', () => {
  it('reads the credential scope, the signed headers and the signature', () => {
    expect(parseSigV4Authorization(VALID)).toEqual({
      accessKeyId: 'ASIAPGPOOLVIPTEST001',
      scopeDate: '20261125',
      region: 'us-east-1',
      service: 'sts',
      signedHeaders: ['host', 'x-amz-date', 'x-pgpool-vip-digest'],
      signature: SIGNATURE,
    });
  });

  it.each([
    ['a second SignedHeaders=', `${VALID}, SignedHeaders=host`, 'authorization has more than one SignedHeaders= component'],
    ['a second Credential=', `${VALID}, Credential=AKIAOTHER00000000000/20261125/us-east-1/sts/aws4_request`, 'authorization has more than one Credential= component'],
    ['a second Signature=', `${VALID}, Signature=${'b'.repeat(64)}`, 'authorization has more than one Signature= component'],
    ['no SignedHeaders=', VALID.replace(/, SignedHeaders=[^,]*/, ''), 'authorization has no SignedHeaders= component'],
    ['an unknown component', `${VALID}, Extra=1`, 'authorization has an unknown component "Extra"'],
    ['another algorithm', VALID.replace('AWS4-HMAC-SHA256', 'AWS4-ECDSA-P256-SHA256'), 'authorization is not AWS4-HMAC-SHA256 (starts "AWS4-ECDSA-P256-SHA256 C"... (217 characters))'],
    ['a scope with six parts', VALID.replace('/sts/', '/x/sts/'), 'authorization Credential= is not KEY/DATE/REGION/SERVICE/aws4_request'],
    ['a short signature', VALID.replace(SIGNATURE, 'abc'), 'authorization Signature= is not 64 hex digits'],
    ['upper-case signed header names', VALID.replace('host;', 'Host;'), 'authorization SignedHeaders= is not a list of lower-case header names'],
    ['a region with markup', VALID.replace('us-east-1', '<b>'), 'authorization Credential= has no valid region ("\\u003cb\\u003e")'],
  ])('refuses %s', (_, header, reason) => {
    expect(parseSigV4Authorization(header)).toBe(reason);
  });

  it.each([
    ['repeated Credential=', `AWS4-HMAC-SHA256 ${'Credential='.repeat(21_000)}`, 'authorization has no SignedHeaders= component'],
    ['repeated Credential=x,', `AWS4-HMAC-SHA256 ${'Credential=x,'.repeat(18_000)}`, 'authorization has more than one Credential= component'],
  ])('refuses 231 KB of %s without backtracking', (_, hostile, reason) => {
    expect(hostile.length).toBeGreaterThan(231_000);
    expect(parseSigV4Authorization(hostile)).toBe(reason);
  });
});
