/**
 * Runs inside the app host's namespace: a TCP connect to VIP:port every 50 ms, each bounded by
 * a timeout, one JSON line per attempt on stdout: {"t":<start epoch ms>,"ok":true|false,"ms":<duration>}.
 * Stops on SIGTERM, when stdin closes, or after MAX_SECONDS.
 * Usage: app-probe.ts VIP PORT MAX_SECONDS
 */
import { connect } from 'node:net';

const [vip, portText, maxText] = process.argv.slice(2);
const port = Number(portText);
const maxSeconds = Number(maxText);
if (vip === undefined || !Number.isInteger(port) || !Number.isFinite(maxSeconds)) {
  console.error('app-probe: usage: app-probe.ts VIP PORT MAX_SECONDS');
  process.exit(2);
}
const INTERVAL_MS = 50;
const TIMEOUT_MS = 400;

function attempt(): void {
  const startedAt = Date.now();
  let settled = false;
  const socket = connect({ host: vip, port });
  const finish = (ok: boolean, error?: string): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.destroy();
    process.stdout.write(`${JSON.stringify({ t: startedAt, ok, ms: Date.now() - startedAt, ...(error ? { error } : {}) })}\n`);
  };
  const timer = setTimeout(() => finish(false, 'timeout'), TIMEOUT_MS);
  socket.once('connect', () => finish(true));
  socket.once('error', (error: NodeJS.ErrnoException) => finish(false, error.code ?? 'error'));
}

// The reader is gone (the drill ended): nothing left to report to.
process.stdout.on('error', () => process.exit(0));
const ticker = setInterval(attempt, INTERVAL_MS);
const stop = (): void => {
  clearInterval(ticker);
  setTimeout(() => process.exit(0), TIMEOUT_MS + 50);
};
setTimeout(stop, maxSeconds * 1000);
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
