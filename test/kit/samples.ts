import type { UnsignedRequestDetail } from '../../lib/contract.ts';

/** A request as an agent on a node of cluster `main` sends it, before its proof. */
export const SAMPLE_REQUEST: UnsignedRequestDetail = {
  version: 1,
  action: 'up',
  cluster: 'main',
  vip: '198.19.0.50',
  instanceId: 'i-0a632a8349b701357',
  interface: 'eth0',
  eni: 'eni-0f1e2d3c4b5a69788',
  requestId: '5b0c7a8e-1d2f-4e3a-9b4c-5d6e7f8a9b0c',
  issuedAt: '2026-11-25T10:00:00.000Z',
};
