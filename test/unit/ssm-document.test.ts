import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { addressDocumentFromScript, DOCUMENT_PATH, DOCUMENT_PREAMBLE } from '../../infra/ssm-document.ts';

describe('Function: SSM address document', () => {
  it('is the committed JSON, built from vip-address.sh (run npm run build:ssm-document after editing the script)', () => {
    expect(JSON.parse(readFileSync(DOCUMENT_PATH, 'utf8'))).toEqual(addressDocumentFromScript());
  });

  it('hands the parameters to the script as positional arguments, in single quotes', () => {
    const document = addressDocumentFromScript() as { mainSteps: Array<{ inputs: { runCommand: string[] } }> };
    const lines = document.mainSteps[0]?.inputs.runCommand ?? [];

    expect(lines[0]).toBe(DOCUMENT_PREAMBLE);
    expect(lines.some((line) => line.startsWith('#!'))).toBe(false);
  });

  it('lets SSM refuse parameters that could break out of the quotes', () => {
    const document = addressDocumentFromScript() as {
      parameters: Record<string, { allowedPattern?: string; allowedValues?: string[] }>;
    };
    const vip = new RegExp(document.parameters.Vip?.allowedPattern ?? '');
    const iface = new RegExp(document.parameters.Interface?.allowedPattern ?? '');

    expect(vip.test('198.19.0.50')).toBe(true);
    expect(vip.test("198.19.0.50'; reboot; '")).toBe(false);
    expect(iface.test('eth0')).toBe(true);
    expect(iface.test("eth0'$(id)")).toBe(false);
    expect(document.parameters.Action?.allowedValues).toEqual(['add', 'remove', 'check']);
  });

  it("refuses a value with a line break, also where `$` matches before a final newline (Python's re, as Java's)", () => {
    const document = addressDocumentFromScript() as { parameters: Record<string, { allowedPattern?: string }> };
    const check = `
import json, re, sys
cases = json.load(sys.stdin)
print(json.dumps([bool(re.search(pattern, value)) for pattern, value in cases]))`;
    const vip = document.parameters.Vip?.allowedPattern ?? '';
    const iface = document.parameters.Interface?.allowedPattern ?? '';
    const cases = [
      [vip, '198.19.0.50'],
      [vip, '198.19.0.50\n'],
      [vip, '198.19.0.50\n198.19.0.51'],
      [vip, '198.19.0.50\r\n'],
      [iface, 'eth0'],
      [iface, 'eth0\n'],
    ];

    const result = spawnSync('python3', ['-c', check], { input: JSON.stringify(cases), encoding: 'utf8' });

    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual([true, false, false, false, true, false]);
    expect(cases.map(([pattern, value]) => new RegExp(pattern ?? '').test(value ?? ''))).toEqual([true, false, false, false, true, false]);
  });
});
