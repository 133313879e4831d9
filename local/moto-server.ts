import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Python modules moto_server loads first (see the file): changes to the emulator's speed that keep AWS's answers, and
 * the DynamoDB requests to one table handled one at a time, so that a transaction that fails cannot erase writes
 * acknowledged while it ran, as moto's own TransactWriteItems does.
 */
export const MOTO_PYTHON_DIR = fileURLToPath(new URL('./moto-python', import.meta.url));

/** A moto_server process standing in for AWS on a loopback port. */
export interface MotoServer {
  endpoint: string;
  port: number;
  pid: number;
  /** Turns SigV4 signature checking on (needs real moto IAM keys from then on). */
  enableAuth(): Promise<void>;
  stop(): Promise<void>;
}

export class MotoUnavailableError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'MotoUnavailableError';
  }
}

export const MOTO_INSTALL_HINT =
  "moto_server was not found on PATH: install it with `pip install 'moto[server]'` (python 3), then run this again";

/** Asks the kernel for a free loopback TCP port. */
export async function freeLoopbackPort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port assigned'));
      });
    });
  });
}

/** Starts moto_server on a free loopback port and waits until it answers. */
export async function startMotoServer(options: { readyTimeoutMs?: number; host?: string } = {}): Promise<MotoServer> {
  const host = options.host ?? '127.0.0.1';
  const port = await freeLoopbackPort();
  let child: ChildProcess;
  try {
    child = spawn('moto_server', ['-H', host, '-p', String(port)], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        MOTO_ALLOW_NONEXISTENT_REGION: 'false',
        // moto-python/sitecustomize.py: the emulator's speed, a table's DynamoDB requests one at a time.
        PYTHONPATH: [MOTO_PYTHON_DIR, process.env.PYTHONPATH].filter((entry) => entry !== undefined && entry !== '').join(delimiter),
      },
    });
  } catch {
    throw new MotoUnavailableError(MOTO_INSTALL_HINT);
  }
  let stderr = '';
  // An internal error of moto reaches a client as an HTML 500 that the SDK cannot parse; the
  // traceback is only on moto's stderr (which has no request lines: moto-python/sitecustomize.py):
  // the last one is kept and printed when the server stops.
  let traceback = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    stderr = (stderr + text).slice(-4000);
    const at = text.lastIndexOf('Traceback (most recent call last)');
    // An action moto lacks (the agent's doctor asks SSM for DescribeInstanceInformation) is an
    // answer the callers expect, not an internal error.
    if (at >= 0 && !text.includes('NotImplementedError', at)) traceback = text.slice(at, at + 4000);
  });
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'ENOENT' ? new MotoUnavailableError(MOTO_INSTALL_HINT) : error);
    });
    child.once('exit', (code) => reject(new Error(`moto_server exited with ${code}: ${stderr.trim()}`)));
  });
  const endpoint = `http://${host}:${port}`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  const ready = (async () => {
    for (;;) {
      try {
        const response = await fetch(`${endpoint}/moto-api/data.json`);
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`moto_server did not answer on ${endpoint} in time: ${stderr.trim()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  try {
    await Promise.race([ready, spawnError]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  spawnError.catch(() => undefined);
  const pid = child.pid ?? -1;
  return {
    endpoint,
    port,
    pid,
    async enableAuth() {
      const response = await fetch(`${endpoint}/moto-api/reset-auth`, { method: 'POST', body: '0' });
      if (!response.ok) throw new Error(`moto reset-auth answered ${response.status}`);
    },
    async stop() {
      if (traceback !== '') process.stderr.write(`moto_server on ${endpoint} logged an internal error; its last traceback:\n${traceback}\n`);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      // SIGKILL, not SIGTERM: the server holds its state in memory only, so there is nothing to
      // write, and on SIGTERM moto exits through Python's full shutdown, which took 0.7 s and
      // 0.8 s of CPU here for a server that had loaded one service (20 ms killed).
      child.kill('SIGKILL');
      await exited;
    },
  };
}
