import type { Incarnation, RequestDetail } from '../../lib/contract.ts';
import type { SwitchoverResult } from '../../functions/switchover/switchover-flow.ts';
import { envelope, signedDetail, type RequestOptions } from '../../local/requests.ts';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { createHarness } from '../../local/harness/controller-harness.ts';
import type { World, WorldInstance } from '../../local/world.ts';
import { createMemoryHarness, type FlowHarness } from './memory-harness.ts';
import { sharedMoto } from './moto.ts';

export type SendOptions = Omit<RequestOptions, 'action' | 'stsEndpoint'> & { incarnation?: Incarnation };

/** Signs a request as the agent on a world's node (by index) or on `instance` would, and hands it to the controller. */
export async function send(
  harness: FlowHarness,
  node: number | WorldInstance,
  action: 'up' | 'down',
  options: SendOptions = {},
): Promise<{ detail: RequestDetail; event: Record<string, unknown>; result: SwitchoverResult }> {
  const instance = typeof node === 'number' ? harness.world.instances[node] : node;
  if (instance === undefined) throw new Error(`no instance ${typeof node === 'number' ? node : node.instanceId}`);
  const { incarnation, detail: changes, ...rest } = options;
  const detail = await signedDetail(harness.world, instance, {
    action,
    stsEndpoint: harness.stsEndpoint,
    ...rest,
    ...(incarnation === undefined && changes === undefined ? {} : { detail: { ...changes, ...(incarnation === undefined ? {} : { incarnation }) } }),
  });
  const event = envelope(detail, harness.world);
  return { detail, event, result: await harness.invoke(event) };
}

/** A time `n` seconds from now. */
export const seconds = (n: number): Date => new Date(Date.now() + n * 1000);

/** Options both kinds of harness take. */
export interface FlowOptions {
  routeTableCount?: number;
  instanceCount?: number;
  tagMembers?: boolean;
  vip?: string;
  /** Changes to the world's controller configuration, computed from the world. */
  configure?: (world: World) => Record<string, unknown>;
  metrics?: Metrics;
}

export type Backend = 'memory' | 'moto';

/**
 * The switchover handler on in-memory ports, or end to end on the run's moto_server with real SDK
 * clients: a spec run on both checks the controller's logic and what a user meets with one text.
 */
export async function flowHarness(backend: Backend, options: FlowOptions = {}): Promise<FlowHarness> {
  if (backend === 'memory') return createMemoryHarness(options);
  return await createHarness(sharedMoto().endpoint, options);
}
