import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

/** What an SSM SendCommand asked for, as sent (moto's own record lists every instance). */
export interface SentCommand {
  commandId: string;
  instanceIds: string[];
  documentName: string;
  parameters: Record<string, string[]>;
}

const SendCommandRequestSchema = z.object({
  InstanceIds: z.array(z.string()).default([]),
  DocumentName: z.string(),
  Parameters: z.record(z.string(), z.array(z.string())).default({}),
});
const SendCommandResponseSchema = z.object({ Command: z.object({ CommandId: z.string() }) });

export interface AwsFrontDoor {
  endpoint: string;
  /** SendCommand requests seen so far, by command id. */
  readonly sentCommands: ReadonlyMap<string, SentCommand>;
  stop(): Promise<void>;
}

/**
 * The AWS endpoint every client in the drill uses: a pass-through to moto_server that keeps
 * the instance ids of each SSM SendCommand. moto adds every instance of the account to a
 * command sent with InstanceIds only, so its own record cannot tell the SSM executor where
 * a command must run.
 */
export async function startAwsFrontDoor(options: { host: string; motoEndpoint: string }): Promise<AwsFrontDoor> {
  const moto = new URL(options.motoEndpoint);
  const sentCommands = new Map<string, SentCommand>();

  const server = createServer((incoming: IncomingMessage, outgoing: ServerResponse) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks);
      const target = incoming.headers['x-amz-target'];
      const upstream = httpRequest(
        {
          host: moto.hostname,
          port: moto.port,
          method: incoming.method,
          path: incoming.url,
          headers: incoming.headers,
        },
        (answer) => {
          const answerChunks: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => answerChunks.push(chunk));
          answer.on('end', () => {
            const answerBody = Buffer.concat(answerChunks);
            if (target === 'AmazonSSM.SendCommand' && answer.statusCode === 200) {
              recordSendCommand(sentCommands, body, answerBody);
            }
            outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
            outgoing.end(answerBody);
          });
        },
      );
      upstream.on('error', (error) => {
        outgoing.writeHead(502, { 'content-type': 'text/plain' });
        outgoing.end(`moto unreachable: ${error.message}`);
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${options.host}:${port}`,
    sentCommands,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function parseJson(buffer: Buffer): unknown {
  try {
    return JSON.parse(buffer.toString('utf8'));
  } catch {
    return undefined;
  }
}

function recordSendCommand(sent: Map<string, SentCommand>, requestBody: Buffer, responseBody: Buffer): void {
  const request = SendCommandRequestSchema.safeParse(parseJson(requestBody));
  const response = SendCommandResponseSchema.safeParse(parseJson(responseBody));
  if (!request.success || !response.success) return;
  const commandId = response.data.Command.CommandId;
  sent.set(commandId, {
    commandId,
    instanceIds: request.data.InstanceIds,
    documentName: request.data.DocumentName,
    parameters: request.data.Parameters,
  });
}
