import { parseArgs } from 'node:util';
import type { SwitchoverAction } from '../lib/contract.ts';
import { INTERFACE_PATTERN, IPV4_PATTERN } from '../lib/patterns.ts';
import { UsageError } from './errors.ts';

/** What one command line asks for. */
export type Invocation =
  | { command: 'help' }
  | { command: 'version' }
  | {
      command: 'switchover';
      action: SwitchoverAction;
      vip: string;
      iface: string;
      configPath?: string;
      skipInterfaceCheck: boolean;
    }
  | { command: 'status' | 'doctor'; iface?: string; configPath?: string };

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
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new UsageError(argumentMistake(error));
  }
  const { values, positionals } = parsed;
  if (values.help === true) return { command: 'help' };
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
      if (!IPV4_PATTERN.test(vip)) throw new UsageError(`VIP '${vip}' is not a dotted IPv4 address`);
      checkInterfaceName(iface);
      return {
        command: 'switchover',
        action: command,
        vip,
        iface,
        ...configPath,
        skipInterfaceCheck: values['no-interface-check'] === true,
      };
    }
    case 'status':
    case 'doctor': {
      if (values['no-interface-check'] === true) {
        throw new UsageError(`--no-interface-check applies to up and down, not ${command}`);
      }
      const [iface, ...extra] = rest;
      rejectExtra(command, extra);
      if (iface !== undefined) checkInterfaceName(iface);
      return { command, ...(iface === undefined ? {} : { iface }), ...configPath };
    }
    case undefined:
      throw new UsageError(`missing command (${COMMANDS}); see pgpool-vip --help`);
    default:
      throw new UsageError(`unknown command '${command}' (${COMMANDS}); see pgpool-vip --help`);
  }
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
