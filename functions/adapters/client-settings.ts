import { NodeHttpHandler } from '@smithy/node-http-handler';

/**
 * How the controller's AWS clients retry and time out. Every call on the switchover path is safe
 * to send again (conditional writes with claim tokens and versions, route writes that converge,
 * an idempotent SSM document), so throttling, 5xx and dropped connections are retried with the
 * SDK's standard mode (exponential backoff with jitter, a client-side retry quota). A call that
 * hangs is cut at REQUEST_TIMEOUT_MS and retried: without a timeout one stuck connection would
 * hold the whole switchover until Lambda's timeout, past the agent's deadline. (The SDK's HTTP
 * handler only warns when requestTimeout passes unless throwOnRequestTimeout is set.)
 */
export const CONTROLLER_MAX_ATTEMPTS = 4;
export const CONNECTION_TIMEOUT_MS = 1_000;
export const REQUEST_TIMEOUT_MS = 3_000;

/** The retry and timeout settings of one controller client (no endpoint, region or credentials). */
export function controllerClientSettings() {
  return {
    maxAttempts: CONTROLLER_MAX_ATTEMPTS,
    retryMode: 'standard' as const,
    requestHandler: httpHandler(),
  };
}

/** The transport of the STS proof replay (not an SDK client: it replays the node's signed request). */
export function stsProofTransport(): NodeHttpHandler {
  return httpHandler();
}

function httpHandler(): NodeHttpHandler {
  return new NodeHttpHandler({ connectionTimeout: CONNECTION_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true });
}
