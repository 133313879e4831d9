import { z } from 'zod';
import { describeIssues } from '../../lib/cluster-config.ts';
import { IPV4_PATTERN, RequestDetailSchema, RequestEventSchema, type RequestDetail } from '../../lib/contract.ts';
import type { ClusterConfig, ControllerConfig } from '../../lib/cluster-config.ts';
import { RequestRejectedError } from './steps.ts';

/** Fields of a request that can be told even when the event as a whole is refused, for the audit. */
export interface RequestIdentity {
  requestId: string | null;
  cluster: string | null;
  vip: string | null;
  action: 'up' | 'down' | null;
  instanceId: string | null;
  issuedAt: string | null;
}

const IsoTimeSchema = z.string().max(40).datetime();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Best-effort identity of any event: only well-formed values are kept, never the proof. */
export function identityOf(event: unknown): RequestIdentity {
  const detail = (event as { detail?: Record<string, unknown> } | null)?.detail;
  const text = (key: string, pattern?: RegExp): string | null => {
    const value = detail?.[key];
    return typeof value === 'string' && value.length <= 128 && (pattern === undefined || pattern.test(value)) ? value : null;
  };
  const action = text('action');
  return {
    requestId: text('requestId', UUID),
    cluster: text('cluster', /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/),
    vip: text('vip', IPV4_PATTERN),
    action: action === 'up' || action === 'down' ? action : null,
    instanceId: text('instanceId', /^i-[0-9a-f]{8,17}$/),
    // Kept only when it is an ISO time: it is shown and sorted on in the audit.
    issuedAt: IsoTimeSchema.safeParse(detail?.issuedAt).success ? (detail?.issuedAt as string) : null,
  };
}

/** Validates the EventBridge envelope and its detail; a refusal names the first bad fields. */
export function parseRequest(event: unknown): RequestDetail {
  const envelope = RequestEventSchema.safeParse(event);
  if (!envelope.success) {
    throw new RequestRejectedError('parse', `malformed event: ${describeIssues(envelope.error)}`);
  }
  const detail = RequestDetailSchema.safeParse(envelope.data.detail);
  if (!detail.success) {
    throw new RequestRejectedError('parse', `malformed request: ${describeIssues(detail.error, 'detail.')}`);
  }
  return detail.data;
}

/** The configured cluster the request names; the VIP and interface must be that cluster's. */
export function clusterFor(config: ControllerConfig, request: RequestDetail): ClusterConfig {
  const cluster = config.clusters.find((candidate) => candidate.name === request.cluster);
  if (cluster === undefined) {
    throw new RequestRejectedError('parse', `cluster "${request.cluster}" is not configured on this controller`);
  }
  if (cluster.vip !== request.vip) {
    throw new RequestRejectedError('parse', `VIP ${request.vip} is not the VIP of cluster "${cluster.name}" (${cluster.vip})`);
  }
  if (cluster.interface !== request.interface) {
    throw new RequestRejectedError(
      'parse',
      `interface ${request.interface} is not the interface of cluster "${cluster.name}" (${cluster.interface})`,
    );
  }
  return cluster;
}
