import { randomUUID } from 'node:crypto';
import type { AwsCredentialIdentity } from '@smithy/types';
import {
  CONTRACT_VERSION,
  RequestDetailSchema,
  type RequestDetail,
  type Incarnation,
  type SwitchoverAction,
  type UnsignedRequestDetail,
} from '../lib/contract.ts';
import { signProof, stsEndpointFor } from '../lib/proof.ts';
import type { NodeIdentity } from './identity.ts';

export interface RequestInput {
  action: SwitchoverAction;
  cluster: string;
  vip: string;
  iface: string;
  identity: NodeIdentity;
  credentials: AwsCredentialIdentity;
  env: NodeJS.ProcessEnv;
  /** The pgpool that runs the agent; absent when it does not run under pgpool's watchdog. */
  incarnation?: Incarnation | undefined;
  /** The agent put the VIP on its interface itself (the local fast path); `up` only. */
  localAddress?: boolean;
  /** A dry run: the controller reports its plan and changes nothing. */
  dryRun?: boolean;
  requestId?: string;
  issuedAt?: Date;
}

/** The request detail with its proof, checked against the contract before it leaves the node. */
export async function buildSignedRequest(input: RequestInput): Promise<RequestDetail> {
  const issuedAt = input.issuedAt ?? new Date();
  const unsigned: UnsignedRequestDetail = {
    version: CONTRACT_VERSION,
    action: input.action,
    cluster: input.cluster,
    vip: input.vip,
    instanceId: input.identity.instanceId,
    interface: input.iface,
    eni: input.identity.eni,
    requestId: input.requestId ?? randomUUID(),
    issuedAt: issuedAt.toISOString(),
    ...(input.incarnation === undefined ? {} : { incarnation: input.incarnation }),
    ...(input.localAddress === true ? { localAddress: true as const } : {}),
    // Only ever `true` on the wire: a request without it keeps the digest it always had.
    ...(input.dryRun === true ? { dryRun: true as const } : {}),
  };
  const proof = await signProof({
    detail: unsigned,
    region: input.identity.region,
    credentials: input.credentials,
    stsEndpoint: stsEndpointFor(input.identity.region, input.env),
    signingDate: issuedAt,
  });
  return RequestDetailSchema.parse({ ...unsigned, proof });
}
