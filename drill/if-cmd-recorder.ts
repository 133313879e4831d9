/**
 * Loaded with `node --import` in front of the agent when pgpool runs it as if_up_cmd or
 * if_down_cmd in the drill: it records when the command started and how it exited in the same
 * log format as timed-if-cmd.sh, and keeps the command's output in a file beside the log.
 * A wrapper script would sit between pgpool and the agent in the process tree, and the agent
 * reads which pgpool runs it (its incarnation) from its parent: with this module the agent is
 * pgpool's child, as on a real node.
 * pgpool runs the command with its own environment: PGVD_IF_CMD_LOG and PGVD_NODE come from there.
 */
import { appendFileSync } from 'node:fs';

const log = process.env.PGVD_IF_CMD_LOG;
if (log !== undefined && log !== '') {
  const node = process.env.PGVD_NODE ?? 'unknown';
  // argv: node, the agent, then up|down VIP IFACE.
  const action = process.argv[2] ?? '?';
  const id = String(process.pid);
  const out = `${log}.${id}.out`;
  let last = '';
  const keep = (chunk: unknown): void => {
    const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk);
    try {
      appendFileSync(out, text);
    } catch {
      // the record is a convenience; the command runs on
    }
    const lines = text.split('\n').filter((line) => line.trim() !== '');
    last = lines[lines.length - 1] ?? last;
  };
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
      keep(chunk);
      return write(chunk, ...rest);
    });
  }
  // When the process began, not now: Node's own start-up (100-200 ms, more under load) is part
  // of the command's cost, as the shell wrapper of the article's script counts its interpreter's.
  appendFileSync(log, `start ${id} ${node} ${action} ${Math.round(performance.timeOrigin)}\n`);
  process.on('exit', (code) => {
    appendFileSync(log, `end ${id} ${node} ${action} ${Date.now()} ${code} ${last.slice(0, 300)}\n`);
  });
}
