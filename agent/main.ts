import { parseInvocation } from './cli.ts';
import type { AgentConfig } from './config.ts';
import { Deadline } from './deadline.ts';
import { AgentError, EXIT, describeAwsError, oneLine } from './errors.ts';
import type { AgentIo } from './io.ts';
import { AGENT_VERSION } from './version.ts';

/**
 * The config, read under a deadline started with the command: the command's own deadline
 * comes from the config, and pgpool would wait forever on a read that blocks.
 */
async function readConfig(configPath: string, io: AgentIo, startedAt: number): Promise<AgentConfig> {
  const { CONFIG_READ_TIMEOUT_MS, loadAgentConfig } = await import('./config.ts');
  const reading = new Deadline(CONFIG_READ_TIMEOUT_MS, startedAt);
  try {
    return await loadAgentConfig(configPath, { deadline: reading, warn: (line) => io.stderr(`pgpool-vip: ${line}`) });
  } finally {
    reading.dispose();
  }
}

/**
 * `pgpool-vip code-cache`. Only the built agent file has compiled commands to keep: the build
 * (scripts/build-agent.ts) puts its own in place of this module, with the commands' code.
 */
export async function codeCacheCommand(_args: readonly string[], io: AgentIo): Promise<number> {
  io.stderr('pgpool-vip: code-cache: only the built agent file (npm run build) has a code cache');
  return await Promise.resolve(EXIT.usage);
}

/**
 * The whole command: returns the exit code; the caller owns the one process.exit.
 *
 * Each command loads its own modules when it runs (dynamic imports, which the bundler keeps in
 * the one file but evaluates only on demand): `--version` evaluates no schema and no SDK, and
 * `up`/`down` never load the EC2, STS, CloudWatch Logs or audit code of `status`, `doctor` and
 * `audit` (./inspection.ts). pgpool runs `up` on the critical path of every failover.
 */
export async function main(argv: readonly string[], io: AgentIo): Promise<number> {
  const startedAt = Date.now();
  let deadline: Deadline | undefined;
  try {
    // `audit` has its own options and reads the ledger's history index, not this node's identity.
    if (argv[0] === 'audit') {
      const { runAudit } = await import('./inspection.ts');
      return await runAudit(argv.slice(1), io);
    }
    const invocation = parseInvocation(argv);
    switch (invocation.command) {
      case 'help':
        {
          const { COMMAND_HELP, HELP_TEXT } = await import('./help.ts');
          io.stdout(invocation.topic === undefined ? HELP_TEXT : COMMAND_HELP[invocation.topic]);
        }
        return EXIT.done;
      case 'version':
        io.stdout(`pgpool-vip ${AGENT_VERSION}`);
        return EXIT.done;
      case 'switchover': {
        const [{ configPathFrom }, { runSwitchover }] = await Promise.all([import('./config.ts'), import('./switchover.ts')]);
        const configPath = configPathFrom(invocation.configPath, io.env);
        const config = await readConfig(configPath, io, startedAt);
        deadline = new Deadline(config.deadlineSeconds * 1000, startedAt);
        return await runSwitchover({ ...invocation, config, configPath }, io, deadline);
      }
      case 'status':
      case 'doctor': {
        const { configPathFrom } = await import('./config.ts');
        const configPath = configPathFrom(invocation.configPath, io.env);
        const config = await readConfig(configPath, io, startedAt);
        deadline = new Deadline(config.deadlineSeconds * 1000, startedAt);
        const iface = invocation.iface ?? config.interface;
        const { runStatus, runDoctor } = await import('./inspection.ts');
        if (invocation.command === 'status') return await runStatus({ config, configPath, iface, json: invocation.json }, io, deadline);
        const { json, pgpoolConf, pgpoolVersion } = invocation;
        return await runDoctor(
          { config, configPath, iface, json, ...(pgpoolConf === undefined ? {} : { pgpoolConf }), ...(pgpoolVersion === undefined ? {} : { pgpoolVersion }) },
          io,
          deadline,
        );
      }
      default: {
        const unhandled: never = invocation;
        throw new Error(`unhandled invocation ${JSON.stringify(unhandled)}`);
      }
    }
  } catch (error) {
    if (error instanceof AgentError) {
      io.stderr(`pgpool-vip: ${oneLine(error.message)}`);
      return error.exitCode;
    }
    io.stderr(`pgpool-vip: unexpected error: ${describeAwsError(error)}`);
    return EXIT.failed;
  } finally {
    deadline?.dispose();
  }
}
