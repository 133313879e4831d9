import { parseArgs } from 'node:util';
import type { SwitchoverAction } from '../lib/contract.ts';
import { INTERFACE_PATTERN, IPV4_PATTERN } from '../lib/patterns.ts';
import { UsageError } from './errors.ts';

/** What one command line asks for. */
export type HelpTopic = 'up' | 'down' | 'status' | 'doctor';

export type Invocation =
  | { command: 'help'; topic?: HelpTopic }
  | { command: 'version' }
  | {
      command: 'switchover';
      action: SwitchoverAction;
      vip: string;
      iface: string;
      configPath?: string;
      skipInterfaceCheck: boolean;
      /** Ask the controller for its plan only: it decides and changes nothing. */
      dryRun: boolean;
      /** With dryRun: the plan as one JSON document on stdout. */
      json: boolean;
    }
  | { command: 'status'; iface?: string; configPath?: string; json: boolean }
  | { command: 'doctor'; iface?: string; configPath?: string; json: boolean; pgpoolConf?: string; pgpoolVersion?: string };

// `audit` is dispatched before this parser (main.ts), with its own options.
const COMMANDS = 'up, down, status, doctor, audit';

/** Parses argv (without node and script); a UsageError explains the first mistake. */
export function parseInvocation(argv: readonly string[]): Invocation {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        'no-interface-check': { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        json: { type: 'boolean' },
        'pgpool-conf': { type: 'string' },
        'pgpool-version': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new UsageError(argumentMistake(error));
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    const [topic] = positionals;
    return topic === 'up' || topic === 'down' || topic === 'status' || topic === 'doctor' ? { command: 'help', topic } : { command: 'help' };
  }
  if (values.version === true) return { command: 'version' };
  if (values.config === '') throw new UsageError('--config needs a file path');
  const configPath = values.config === undefined ? {} : { configPath: values.config };

  const [command, ...rest] = positionals;
  switch (command) {
    case 'up':
    case 'down': {
      const [vip, iface, ...extra] = rest;
      if (vip === undefined || iface === undefined) {
        throw new UsageError(`${command} needs VIP and IFACE: pgpool-vip ${command} VIP IFACE`);
      }
      rejectExtra(command, extra);
      rejectOptions(command, values, ['pgpool-conf', 'pgpool-version']);
      const dryRun = values['dry-run'] === true;
      if (values.json === true && !dryRun) throw new UsageError(`--json applies to ${command} only with --dry-run; see pgpool-vip ${command} --help`);
      if (dryRun && values['no-interface-check'] === true) {
        throw new UsageError('--no-interface-check does not apply to a dry run: it never waits for the interface');
      }
      if (!IPV4_PATTERN.test(vip)) throw new UsageError(`VIP '${vip}' is not a dotted IPv4 address`);
      checkInterfaceName(iface);
      return {
        command: 'switchover',
        action: command,
        vip,
        iface,
        ...configPath,
        skipInterfaceCheck: values['no-interface-check'] === true,
        dryRun,
        json: values.json === true,
      };
    }
    case 'status':
    case 'doctor': {
      if (values['no-interface-check'] === true) {
        throw new UsageError(`--no-interface-check applies to up and down, not ${command}`);
      }
      if (values['dry-run'] === true) throw new UsageError(`--dry-run applies to up and down, not ${command}`);
      const [iface, ...extra] = rest;
      rejectExtra(command, extra);
      if (iface !== undefined) checkInterfaceName(iface);
      const common = { ...(iface === undefined ? {} : { iface }), ...configPath, json: values.json === true };
      if (command === 'status') {
        rejectOptions(command, values, ['pgpool-conf', 'pgpool-version']);
        return { command, ...common };
      }
      if (values['pgpool-conf'] === '') throw new UsageError('--pgpool-conf needs a file path');
      if (values['pgpool-version'] !== undefined && !/^\d+\.\d+(\.\d+)?$/.test(values['pgpool-version'])) {
        throw new UsageError(`--pgpool-version '${values['pgpool-version']}' is not a version like 4.7 or 4.3.5`);
      }
      if (values['pgpool-version'] !== undefined && values['pgpool-conf'] === undefined) {
        throw new UsageError('--pgpool-version goes with --pgpool-conf FILE');
      }
      return {
        command,
        ...common,
        ...(values['pgpool-conf'] === undefined ? {} : { pgpoolConf: values['pgpool-conf'] }),
        ...(values['pgpool-version'] === undefined ? {} : { pgpoolVersion: values['pgpool-version'] }),
      };
    }
    case undefined:
      throw new UsageError(`missing command (${COMMANDS}); see pgpool-vip --help`);
    default:
      throw new UsageError(`unknown command '${command}' (${COMMANDS}); see pgpool-vip --help`);
  }
}

/** An option another command takes is a mistake here, not something to ignore. */
function rejectOptions(command: string, values: Record<string, unknown>, options: readonly string[]): void {
  const given = options.find((option) => values[option] !== undefined);
  if (given !== undefined) throw new UsageError(`--${given} does not apply to ${command}; see pgpool-vip ${command} --help`);
}

function rejectExtra(command: string, extra: readonly string[]): void {
  if (extra.length > 0) throw new UsageError(`${command}: unexpected argument '${extra.join(' ')}'`);
}

function checkInterfaceName(iface: string): void {
  if (!INTERFACE_PATTERN.test(iface)) throw new UsageError(`IFACE '${iface}' is not a Linux interface name`);
}

/** node:util's messages are long and mention `args`; say what a user typed instead. */
function argumentMistake(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  const option = /'(-{1,2}[^'\s,]*)/.exec(message)?.[1];
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${option ?? message}'; see pgpool-vip --help`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return `option '${option ?? message}' ${/argument missing/.test(message) ? 'needs a value' : 'takes no value'}`;
    default:
      return message.split('\n')[0] ?? 'bad arguments';
  }
}
