import { readFileSync } from 'node:fs';

/**
 * SSM parameter patterns: checked by SSM before the script runs, and again by the script. In
 * Java's, Python's and PCRE's regular expressions `$` also matches before a final line break, so
 * each pattern ends with `(?![\s\S])`: nothing at all may follow, not even a newline.
 */
const END = '$(?![\\s\\S])';
export const VIP_PARAMETER_PATTERN =
  `^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])${END}`;
export const INTERFACE_PARAMETER_PATTERN = `^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}${END}`;

/** The first runCommand line hands the SSM parameters to the script as positional arguments. */
export const DOCUMENT_PREAMBLE = "set -- '{{ Action }}' '{{ Vip }}' '{{ Interface }}'";

/** Builds the Command document (JSON, schema 2.2) that runs `vip-address.sh` as root on a node. */
export function buildAddressDocument(script: string): Record<string, unknown> {
  const lines = script.split('\n').filter((line, index) => !(index === 0 && line.startsWith('#!')));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return {
    schemaVersion: '2.2',
    description: 'pgpool-aws-vip: add, remove or check the pgpool VIP (/32) on a network interface (idempotent)',
    parameters: {
      Action: { type: 'String', description: 'add, remove, or check (reports present/absent)', allowedValues: ['add', 'remove', 'check'] },
      Vip: { type: 'String', description: 'The VIP, dotted IPv4', allowedPattern: VIP_PARAMETER_PATTERN },
      Interface: {
        type: 'String',
        description: 'Linux interface name, e.g. eth0',
        allowedPattern: INTERFACE_PARAMETER_PATTERN,
      },
    },
    mainSteps: [
      {
        action: 'aws:runShellScript',
        name: 'vipAddress',
        precondition: { StringEquals: ['platformType', 'Linux'] },
        inputs: { timeoutSeconds: '30', runCommand: [DOCUMENT_PREAMBLE, ...lines] },
      },
    ],
  };
}

export const SCRIPT_PATH = new URL('./vip-address.sh', import.meta.url);
export const DOCUMENT_PATH = new URL('./ssm-document.json', import.meta.url);

/** The document built from the script in this folder. */
export function addressDocumentFromScript(): Record<string, unknown> {
  return buildAddressDocument(readFileSync(SCRIPT_PATH, 'utf8'));
}
