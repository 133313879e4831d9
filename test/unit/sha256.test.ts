import { Sha256 as JsSha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import { Sha256 } from '../../lib/sha256.ts';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('Sha256: the hash SigV4 signing uses, from node:crypto', () => {
  it('gives SHA-256 of the FIPS 180-2 example and HMAC-SHA-256 of RFC 4231 test case 2', async () => {
    const hash = new Sha256();
    hash.update(new TextEncoder().encode('abc'));
    const hmac = new Sha256('Jefe');
    hmac.update('what do ya want for nothing?');
    expect(hex(await hash.digest())).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hex(await hmac.digest())).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });

  it('starts over after reset, with the same key', async () => {
    const hmac = new Sha256(new Uint8Array([1, 2, 3]).buffer);
    hmac.update('discarded');
    hmac.reset();
    hmac.update('kept');
    const fresh = new Sha256(new Uint8Array([1, 2, 3]));
    fresh.update('kept');
    expect(hex(await hmac.digest())).toBe(hex(await fresh.digest()));
  });

  it('signs a request exactly as the pure-JavaScript SHA-256 does', async () => {
    const request = (): HttpRequest =>
      new HttpRequest({
        method: 'POST',
        protocol: 'https:',
        hostname: 'events.us-east-1.amazonaws.com',
        path: '/',
        headers: { host: 'events.us-east-1.amazonaws.com', 'x-amz-target': 'AWSEvents.PutEvents' },
        body: '{"Entries":[]}',
      });
    const credentials = { accessKeyId: 'ASIAPGPOOLVIPTEST001', secretAccessKey: 'secret-of-the-test-instance', sessionToken: 'token' };
    const signingDate = new Date('2026-11-30T12:00:00Z');
    const sign = (sha256: typeof Sha256 | typeof JsSha256) =>
      new SignatureV4({ service: 'events', region: 'us-east-1', credentials, sha256 }).sign(request(), { signingDate });
    const [ours, theirs] = await Promise.all([sign(Sha256), sign(JsSha256)]);
    expect(ours.headers.authorization).toBe(theirs.headers.authorization);
    expect(ours.headers.authorization).toMatch(/Signature=[0-9a-f]{64}$/);
  });
});
