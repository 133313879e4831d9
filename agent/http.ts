import type { AgentOptions, Agent as HttpAgent, ClientRequest, IncomingMessage, RequestOptions } from 'node:http';

/**
 * One HTTP exchange over node:http(s), for IMDS and the two AWS services `up` calls. Not
 * `fetch`: its engine (undici, with a WebAssembly parser) takes longer to load and compile
 * than the whole request it would send.
 */
export interface HttpExchange {
  method: 'GET' | 'PUT' | 'POST';
  headers: Record<string, string>;
  body?: string;
  signal: AbortSignal;
  /** A longer answer is refused: none of the agent's answers is large. */
  maxBytes: number;
}

export interface HttpAnswer {
  status: number;
  text: string;
}

/** The answer was longer than the caller accepts. */
export class AnswerTooLargeError extends Error {
  public constructor(maxBytes: number) {
    super(`answer larger than ${maxBytes} bytes`);
    this.name = 'AnswerTooLargeError';
  }
}

/** What node:http and node:https both offer. */
interface Transport {
  request(url: URL, options: RequestOptions, callback: (response: IncomingMessage) => void): ClientRequest;
  Agent: new (options: AgentOptions) => HttpAgent;
}

/**
 * node:https (TLS) loads only when needed: IMDS and a test's loopback moto speak plain HTTP.
 * process.getBuiltinModule (Node 22.3+) rather than import(): import() builds the module's ESM
 * namespace, which reads every export, and node:http's WebSocket, CloseEvent and MessageEvent
 * are getters that load undici, which takes about as long as the rest of `up` before it sends.
 */
async function loadTransport(secure: boolean): Promise<Transport> {
  const name = secure ? 'node:https' : 'node:http';
  if (typeof process.getBuiltinModule === 'function') return process.getBuiltinModule(name);
  return secure ? await import('node:https') : await import('node:http');
}

/**
 * Requests to one origin over one kept-alive connection: the agent polls the ledger several
 * times per `up`, and a new TLS handshake per poll would cost more than the poll.
 */
export class HttpOrigin {
  private connection: { transport: Transport; agent: HttpAgent } | undefined;

  /** `connections`: how many requests may be in flight at once, each on its own kept-alive socket. */
  public constructor(
    private readonly secure: boolean,
    private readonly connections: number = 1,
  ) {}

  public async exchange(url: URL, exchange: HttpExchange): Promise<HttpAnswer> {
    if (this.connection === undefined) {
      const transport = await loadTransport(this.secure);
      this.connection = { transport, agent: new transport.Agent({ keepAlive: true, maxSockets: this.connections }) };
    }
    const { transport, agent } = this.connection;
    const { method, headers, body, signal, maxBytes } = exchange;
    return await new Promise((resolve, reject) => {
      const request = transport.request(url, { method, headers, signal, agent }, (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) request.destroy(new AnswerTooLargeError(maxBytes));
          else chunks.push(chunk);
        });
        response.once('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        response.once('error', reject);
      });
      request.once('error', reject);
      request.end(body);
    });
  }

  /** Closes the kept-alive connection (the process also ends right after a command). */
  public close(): void {
    this.connection?.agent.destroy();
  }
}
