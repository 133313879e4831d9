/** What a command may touch of its process: output lines and the environment. */
export interface AgentIo {
  /** Writes one line (no trailing newline needed) to standard output. */
  stdout(line: string): void;
  /** Writes one line to standard error. */
  stderr(line: string): void;
  env: NodeJS.ProcessEnv;
}

/** The real process's streams and environment. */
export function processIo(): AgentIo {
  return {
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
  };
}
