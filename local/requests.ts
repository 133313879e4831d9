import { randomUUID } from 'node:crypto';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  REQUEST_DETAIL_TYPE,
  REQUEST_SOURCE,
  type RequestDetail,
  type SwitchoverAction,
  type UnsignedRequestDetail,
} from '../lib/contract.ts';
import { signRequest } from '../lib/proof.ts';
import { motoClientConfig } from './aws-clients.ts';
import type { World, WorldInstance } from './world.ts';

export interface RequestOptions {
  action: SwitchoverAction;
  issuedAt?: Date;
  signingDate?: Date;
  requestId?: string;
  stsEndpoint: string;
  /** Changes applied to the detail before signing (the proof then covers them). */
  detail?: Partial<UnsignedRequestDetail>;
}

/** A signed request detail, as the agent on `instance` would build it (lib/proof.ts signs it). */
export async function signedDetail(world: World, instance: WorldInstance, options: RequestOptions): Promise<RequestDetail> {
  const cluster = world.config.clusters[0];
  if (cluster === undefined) throw new Error('world has no cluster');
  return await signRequest(
    {
      action: options.action,
      cluster: cluster.name,
      vip: cluster.vip,
      instanceId: instance.instanceId,
      eni: instance.eni,
      interface: 'eth0',
      ...(options.detail === undefined ? {} : { fields: options.detail }),
    },
    {
      region: world.region,
      credentials: instance.credentials,
      stsEndpoint: new URL(options.stsEndpoint),
      ...(options.requestId === undefined ? {} : { requestId: options.requestId }),
      ...(options.issuedAt === undefined ? {} : { issuedAt: options.issuedAt }),
      ...(options.signingDate === undefined ? {} : { signingDate: options.signingDate }),
    },
  );
}

/** The EventBridge envelope Lambda receives for a detail. */
export function envelope(detail: unknown, world: Pick<World, 'accountId' | 'region'>): Record<string, unknown> {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': REQUEST_DETAIL_TYPE,
    source: REQUEST_SOURCE,
    account: world.accountId,
    time: new Date().toISOString(),
    region: world.region,
    resources: [],
    detail,
  };
}

/**
 * Puts a request detail on the world's bus as an agent does, at `endpoint` (moto, or a front door
 * before it, so that the controller behind the door is handed it).
 */
export async function putRequestEvent(endpoint: string, busName: string, detail: RequestDetail): Promise<void> {
  const bus = new EventBridgeClient(motoClientConfig(endpoint));
  try {
    await bus.send(
      new PutEventsCommand({
        Entries: [{ EventBusName: busName, Source: REQUEST_SOURCE, DetailType: REQUEST_DETAIL_TYPE, Detail: JSON.stringify(detail) }],
      }),
    );
  } finally {
    bus.destroy();
  }
}
