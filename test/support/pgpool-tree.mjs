// Stands in for pgpool's process tree around if_up_cmd/if_down_cmd. Run through a link named
// `pgpool` to node, so every process of the tree is named pgpool, as pgpool's own are.
//   main      -> forks the watchdog and relays messages to it
//   watchdog  -> on {kind: 'escalation'} forks an escalation process that runs the command;
//                on {kind: 'reacquire'} runs the command itself (as pgpool's watchdog does when
//                the VIP vanished from its interface)
//   escalation-> runs the command and exits with its code
// Each command's result goes back to the test as {code, stdout, stderr}.
import { spawn } from 'node:child_process';
import process from 'node:process';

const [role] = process.argv.slice(2);
const self = [process.argv[1]];

function run(command, args, env) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

if (role === 'main') {
  const watchdog = spawn(process.argv0, [...self, 'watchdog'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  process.on('message', (message) => watchdog.send(message));
  watchdog.on('message', (message) => process.send(message));
  watchdog.on('exit', () => process.exit(0));
  process.on('disconnect', () => watchdog.kill('SIGKILL'));
  process.send({ ready: true, watchdogPid: watchdog.pid });
} else if (role === 'watchdog') {
  process.on('message', async ({ kind, command, args, env }) => {
    const result =
      kind === 'escalation'
        ? await run(process.argv0, [...self, 'escalation'], { ...env, PGPOOL_TREE_COMMAND: JSON.stringify([command, ...args]) })
        : await run(command, args, env);
    process.send(result);
  });
  process.on('disconnect', () => process.exit(0));
} else if (role === 'escalation') {
  const [command, ...args] = JSON.parse(process.env.PGPOOL_TREE_COMMAND ?? '[]');
  const env = { ...process.env };
  delete env.PGPOOL_TREE_COMMAND;
  const result = await run(command, args, env);
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  process.exit(result.code ?? 1);
}
