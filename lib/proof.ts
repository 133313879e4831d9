import { Sha256 } from './sha256.ts';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { randomUUID } from 'node:crypto';
import {
  CONTRACT_VERSION,
  DIGEST_HEADER,
  GET_CALLER_IDENTITY_BODY,
  type Proof,
  type RequestDetail,
  type SwitchoverAction,
  type UnsignedRequestDetail,
} from './contract.ts';
import { requestDigest } from './digest.ts';

export { DIGEST_HEADER, GET_CALLER_IDENTITY_BODY } from './contract.ts';

/** The regional STS endpoint, unless the SDK's standard override variables say otherwise. */
export function stsEndpointFor(region: string, env: NodeJS.ProcessEnv = process.env): URL {
  const override = env.AWS_ENDPOINT_URL_STS ?? env.AWS_ENDPOINT_URL;
  return new URL(override ?? `https://sts.${region}.amazonaws.com/`);
}

/** The GetCallerIdentity POST to `endpoint` (signing it and replaying it build the same request). */
export function stsHttpRequest(endpoint: URL, headers: Record<string, string>, body: string): HttpRequest {
  return new HttpRequest({
    method: 'POST',
    protocol: endpoint.protocol,
    hostname: endpoint.hostname,
    port: endpoint.port === '' ? undefined : Number(endpoint.port),
    path: endpoint.pathname,
    headers,
    body,
  });
}

export interface SignProofInput {
  detail: UnsignedRequestDetail;
  region: string;
  credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Where the controller will send it; must be the controller's configured STS endpoint. */
  stsEndpoint: URL;
  signingDate?: Date;
}

/**
 * Signs `GetCallerIdentity` with the caller's credentials and the request digest as a signed
 * header (the method of Vault's AWS IAM auth). Whoever replays it to STS learns who signed it,
 * and cannot change the request without breaking the signature.
 */
export async function signProof(input: SignProofInput): Promise<Proof> {
  const { stsEndpoint } = input;
  const request = stsHttpRequest(
    stsEndpoint,
    {
      host: stsEndpoint.host,
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      [DIGEST_HEADER]: requestDigest(input.detail),
    },
    GET_CALLER_IDENTITY_BODY,
  );
  const signer = new SignatureV4({
    service: 'sts',
    region: input.region,
    credentials: input.credentials,
    sha256: Sha256,
    applyChecksum: true,
  });
  const signed = await signer.sign(request, { signingDate: input.signingDate ?? new Date() });
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) headers[name.toLowerCase()] = value;
  return { headers, body: GET_CALLER_IDENTITY_BODY };
}

/** What a node asks for, as its agent sends it; the signer adds the version, id, time and proof. */
export interface RequestToSign {
  action: SwitchoverAction;
  cluster: string;
  vip: string;
  instanceId: string;
  eni: string;
  interface: string;
  /** The contract's optional fields (incarnation, dryRun, localAddress), signed like the rest. */
  fields?: Partial<UnsignedRequestDetail>;
}

export interface RequestSigning {
  region: string;
  credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** The controller's STS endpoint, which the proof is signed for. */
  stsEndpoint: URL;
  requestId?: string;
  issuedAt?: Date;
  /** When the proof is signed; `issuedAt` unless said otherwise (the controller checks they agree). */
  signingDate?: Date;
}

/**
 * The one request signer, for the agent and for everything that plays a node (the local story,
 * the drill, the tests): the request detail and its proof, bound to each other by the digest.
 * It checks nothing: the agent checks the result against the contract before it leaves the node.
 */
export async function signRequest(request: RequestToSign, signing: RequestSigning): Promise<RequestDetail> {
  const issuedAt = signing.issuedAt ?? new Date();
  const { fields, ...asked } = request;
  const unsigned: UnsignedRequestDetail = {
    version: CONTRACT_VERSION,
    ...asked,
    requestId: signing.requestId ?? randomUUID(),
    issuedAt: issuedAt.toISOString(),
    ...fields,
  };
  const proof = await signProof({
    detail: unsigned,
    region: signing.region,
    credentials: signing.credentials,
    stsEndpoint: signing.stsEndpoint,
    signingDate: signing.signingDate ?? issuedAt,
  });
  return { ...unsigned, proof };
}
