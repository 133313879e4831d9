import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_PATH, configPathFrom, parseAgentConfig } from '../../agent/config.ts';
import { UsageError } from '../../agent/errors.ts';

describe('Function: parseAgentConfig', () => {
  it("fills the defaults of a minimal config: the prod stage's bus and ledger table", () => {
    // Act
    const config = parseAgentConfig({ cluster: 'main', vip: '198.19.0.50' }, 'agent.json');
    // Assess
    expect(config).toEqual({
      cluster: 'main',
      vip: '198.19.0.50',
      bus: 'pgpool-vip',
      ledgerTable: 'pgpool-vip-ledger',
      deadlineSeconds: 30,
      pollIntervalMs: 250,
      interface: 'eth0',
      checkInterface: true,
      localAddress: false,
    });
  });

  it('keeps the optional fields and lower-cases the test-only MAC', () => {
    const config = parseAgentConfig(
      {
        cluster: 'main',
        vip: '198.19.0.50',
        ledgerTable: 't-1',
        bus: 'arn:aws:events:eu-west-1:123456789012:event-bus/pgpool-vip',
        region: 'eu-west-1',
        routeTables: ['rtb-0123456789abcdef0'],
        interfaceMac: '0A:1B:2C:3D:4E:5F',
        checkInterface: false,
        deadlineSeconds: 10,
      },
      'agent.json',
    );

    expect(config).toMatchObject({
      bus: 'arn:aws:events:eu-west-1:123456789012:event-bus/pgpool-vip',
      region: 'eu-west-1',
      routeTables: ['rtb-0123456789abcdef0'],
      interfaceMac: '0a:1b:2c:3d:4e:5f',
      checkInterface: false,
      deadlineSeconds: 10,
    });
  });

  it.each([
    [{ vip: '198.19.0.50', ledgerTable: 't-1' }, 'config a.json: cluster is required'],
    [{ cluster: 'main', vip: '198.19.0.50', ledgerTable: 'a b' }, 'config a.json: ledgerTable must be a DynamoDB table name'],
    [{ cluster: 'main', vip: '198.19.0.50', ledgerTable: 't-1', region: 'Europe' }, 'config a.json: region must be an AWS region like eu-west-1'],
    [{ cluster: 'main', vip: '198.19.0.50', ledgerTable: 't-1', deadlineSeconds: 0 }, 'config a.json: deadlineSeconds Number must be greater than or equal to 1'],
    [{ cluster: 'main', vip: '198.19.0.50', ledgerTable: 't-1', interfaceMac: 'aa:bb' }, 'config a.json: interfaceMac must be a MAC address like 0a:1b:2c:3d:4e:5f'],
    [{ cluster: 'main', vip: '198.19.0.50', ledgerTable: 't-1', routeTables: [] }, 'config a.json: routeTables needs at least one route table when present'],
    [{ cluster: 'main', vip: '198.19.0.50', ledgerTable: 't-1', a: 1, b: 2 }, 'config a.json: unknown fields a, b'],
    [[], 'config a.json: (document) Expected object, received array'],
  ])('rejects %j naming the field', (document, message) => {
    expect(() => parseAgentConfig(document, 'a.json')).toThrow(new UsageError(message));
  });
});

describe('Function: configPathFrom', () => {
  it('prefers --config, then PGPOOL_VIP_AGENT_CONFIG, then the default path', () => {
    expect(configPathFrom('/a.json', { PGPOOL_VIP_AGENT_CONFIG: '/b.json' })).toBe('/a.json');
    expect(configPathFrom(undefined, { PGPOOL_VIP_AGENT_CONFIG: '/b.json' })).toBe('/b.json');
    expect(configPathFrom(undefined, { PGPOOL_VIP_AGENT_CONFIG: '' })).toBe(DEFAULT_CONFIG_PATH);
    // The controller's variable holds JSON text, never the agent's path.
    expect(configPathFrom(undefined, { PGPOOL_VIP_CONFIG: '{"clusters":[]}' })).toBe('/etc/pgpool-vip/agent.json');
  });
});
