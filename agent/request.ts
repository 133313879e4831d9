import type { AwsCredentialIdentity } from '@smithy/types';
import { RequestDetailSchema, type RequestDetail, type Incarnation, type SwitchoverAction } from '../lib/contract.ts';
import { signRequest, stsEndpointFor } from '../lib/proof.ts';
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
  const { identity } = input;
  const detail = await signRequest(
    {
      action: input.action,
      cluster: input.cluster,
      vip: input.vip,
      instanceId: identity.instanceId,
      eni: identity.eni,
      interface: input.iface,
      fields: {
        ...(input.incarnation === undefined ? {} : { incarnation: input.incarnation }),
        ...(input.localAddress === true ? { localAddress: true as const } : {}),
        // Only ever `true` on the wire: a request without it keeps the digest it always had.
        ...(input.dryRun === true ? { dryRun: true as const } : {}),
      },
    },
    {
      region: identity.region,
      credentials: input.credentials,
      stsEndpoint: stsEndpointFor(identity.region, input.env),
      ...(input.requestId === undefined ? {} : { requestId: input.requestId }),
      ...(input.issuedAt === undefined ? {} : { issuedAt: input.issuedAt }),
    },
  );
  return RequestDetailSchema.parse(detail);
}
