import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { HttpHandler } from '@smithy/protocol-http';

/** An STS transport that sends for real and counts what it was asked to send. */
export function countingSts(): HttpHandler & { calls: number } {
  const inner = new NodeHttpHandler();
  const counter = {
    calls: 0,
    handle: (...args: Parameters<HttpHandler['handle']>) => {
      counter.calls += 1;
      return inner.handle(...args);
    },
    updateHttpClientConfig: () => undefined,
    httpHandlerConfigs: () => ({}),
    destroy: () => inner.destroy(),
  };
  return counter;
}
