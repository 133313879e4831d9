import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import type { Checksum, SourceData } from '@smithy/types';

/**
 * SHA-256 and HMAC-SHA-256 for SigV4 signing (SignatureV4's `sha256`), from node:crypto. The
 * agent loads node:crypto anyway (request ids, digests); a pure-JavaScript hash would add its
 * own code to compile and run cold on every `up`.
 */
export class Sha256 implements Checksum {
  private hash: Hash | Hmac;

  public constructor(private readonly secret?: SourceData) {
    this.hash = Sha256.start(secret);
  }

  public update(chunk: SourceData): void {
    this.hash.update(bytes(chunk));
  }

  public digest(): Promise<Uint8Array> {
    const digest = this.hash.digest();
    return Promise.resolve(new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength));
  }

  public reset(): void {
    this.hash = Sha256.start(this.secret);
  }

  private static start(secret: SourceData | undefined): Hash | Hmac {
    return secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
}

function bytes(data: SourceData): string | Uint8Array {
  if (typeof data === 'string') return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}
