import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DOCUMENT_PATH } from '../infra/ssm-document.ts';
import type { SentCommand } from './aws-front-door.ts';
import { runInNamespace, sleep } from './processes.ts';

const DocumentSchema = z.object({
  parameters: z.record(
    z.string(),
    z.object({ allowedValues: z.array(z.string()).optional(), allowedPattern: z.string().optional() }),
  ),
  mainSteps: z.array(
    z.object({ action: z.literal('aws:runShellScript'), inputs: z.object({ runCommand: z.array(z.string()) }) }),
  ),
});
type CommandDocument = z.infer<typeof DocumentSchema>;

/** One execution of the document on one instance. */
export interface Execution {
  commandId: string;
  instanceId: string;
  ns: string;
  startedAt: number;
  endedAt: number;
  code: number;
  output: string;
}

export interface SsmExecutorOptions {
  documentName: string;
  /** Where each instance lives. */
  namespaceOf: (instanceId: string) => string | undefined;
  /** The instance ids each command was really sent to (see aws-front-door.ts). */
  sentCommands: ReadonlyMap<string, SentCommand>;
  onExecution: (execution: Execution) => void;
  onError: (error: unknown) => void;
  /** The longest time between two looks at sentCommands when nothing calls take() (default 1000 ms). */
  pollMs?: number;
}

export interface SsmExecutor {
  readonly executions: readonly Execution[];
  /**
   * A command SSM accepted (the front door tells, as SSM Agent gets commands pushed over its
   * message channel): runs it on its instances once the modelled delivery has passed.
   */
  take(command: SentCommand): void;
  stop(): Promise<void>;
}

/**
 * Stands in for the SSM agent on every instance: picks up each new command of the project's
 * document and runs the document's shell script as root inside the target instance's
 * namespace, once per command id and instance, like the agent does. Commands arrive by take();
 * a look at sentCommands every pollMs catches any other. (It used to poll moto's ListCommands
 * every 100 ms: up to 100 ms late, and moto, answering a list that grows with every command,
 * slower for everyone else.)
 */
export function startSsmExecutor(options: SsmExecutorOptions): SsmExecutor {
  const document = DocumentSchema.parse(JSON.parse(readFileSync(DOCUMENT_PATH, 'utf8')));
  const seen = new Set<string>();
  const executions: Execution[] = [];
  const running = new Set<Promise<void>>();
  let stopped = false;

  async function execute(commandId: string, instanceId: string, parameters: Record<string, string[]>, startsAt: number): Promise<void> {
    const ns = options.namespaceOf(instanceId);
    if (ns === undefined) return;
    // SSM's delivery to the instance under the latency model (the front door drew it at SendCommand).
    await sleep(Math.max(0, startsAt - Date.now()));
    const startedAt = Date.now();
    let code: number;
    let output: string;
    try {
      const script = renderScript(document, parameters);
      const result = await runInNamespace({ ns, argv: ['sh', '-c', script], timeoutMs: 30_000 });
      code = result.code;
      output = `${result.stdout}${result.stderr}`.trim();
    } catch (error) {
      code = -1;
      output = (error as Error).message;
    }
    const execution = { commandId, instanceId, ns, startedAt, endedAt: Date.now(), code, output };
    executions.push(execution);
    options.onExecution(execution);
  }

  function take(sent: SentCommand): void {
    if (stopped || seen.has(sent.commandId)) return;
    seen.add(sent.commandId);
    if (sent.documentName !== options.documentName) return;
    for (const instanceId of sent.instanceIds) {
      const job = execute(sent.commandId, instanceId, sent.parameters, sent.startsAt)
        .catch((error: unknown) => options.onError(error))
        .finally(() => running.delete(job));
      running.add(job);
    }
  }

  const timer = setInterval(() => {
    for (const sent of options.sentCommands.values()) take(sent);
  }, options.pollMs ?? 1000);

  return {
    executions,
    take,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await Promise.all([...running]);
    },
  };
}

/** The document's script with its parameters substituted, after the checks SSM makes first. */
export function renderScript(document: CommandDocument, parameters: Record<string, string[]>): string {
  const values = new Map<string, string>();
  for (const [name, spec] of Object.entries(document.parameters)) {
    const value = parameters[name]?.[0];
    if (value === undefined) throw new Error(`parameter ${name} missing`);
    if (spec.allowedValues !== undefined && !spec.allowedValues.includes(value)) {
      throw new Error(`parameter ${name}: '${value}' is not an allowed value`);
    }
    if (spec.allowedPattern !== undefined && !new RegExp(spec.allowedPattern).test(value)) {
      throw new Error(`parameter ${name}: '${value}' does not match ${spec.allowedPattern}`);
    }
    values.set(name, value);
  }
  const lines = document.mainSteps.flatMap((step) => step.inputs.runCommand);
  return lines
    .map((line) => line.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, name: string) => values.get(name) ?? ''))
    .join('\n');
}
