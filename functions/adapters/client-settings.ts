import { NodeHttpHandler, type NodeHttpHandlerOptions } from '@smithy/node-http-handler';
import type { HttpHandler, HttpRequest, HttpResponse } from '@smithy/protocol-http';
import type { HttpHandlerOptions } from '@smithy/types';
import { currentDeadline } from '../invocation-deadline.ts';

/**
 * How the controller's AWS clients retry and time out. Every call on the switchover path is safe
 * to send again (conditional writes with claim tokens and versions, route writes that converge,
 * an idempotent SSM document), so throttling, 5xx and dropped connections are retried with the
 * SDK's standard mode (exponential backoff with jitter, a client-side retry quota). A call that
 * hangs is cut at REQUEST_TIMEOUT_MS and retried: without a timeout one stuck connection would
 * hold the whole switchover until Lambda's timeout, past the agent's deadline. (The SDK's HTTP
 * handler only warns when requestTimeout passes unless throwOnRequestTimeout is set.) Whatever
 * the attempts and timeouts add up to, a call also ends at the deadline of the invocation that
 * made it (`functions/invocation-deadline.ts`).
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
export function stsProofTransport(): HttpHandler<NodeHttpHandlerOptions> {
  return httpHandler();
}

function httpHandler(): HttpHandler<NodeHttpHandlerOptions> {
  return new DeadlineBoundHttpHandler(new NodeHttpHandler({ connectionTimeout: CONNECTION_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true }));
}

/** Node's HTTP handler, aborting each call at the deadline of the invocation that made it. */
export class DeadlineBoundHttpHandler implements HttpHandler<NodeHttpHandlerOptions> {
  public readonly metadata = { handlerProtocol: 'http/1.1' };

  public constructor(private readonly inner: NodeHttpHandler) {}

  public handle(request: HttpRequest, options: HttpHandlerOptions = {}): Promise<{ response: HttpResponse }> {
    const abortSignal = options.abortSignal ?? currentDeadline();
    return this.inner.handle(request, abortSignal === undefined ? options : { ...options, abortSignal });
  }

  public updateHttpClientConfig(key: keyof NodeHttpHandlerOptions, value: NodeHttpHandlerOptions[typeof key]): void {
    this.inner.updateHttpClientConfig(key, value);
  }

  public httpHandlerConfigs(): NodeHttpHandlerOptions {
    return this.inner.httpHandlerConfigs();
  }

  public destroy(): void {
    this.inner.destroy();
  }
}
