import { describe, expect, it } from 'vitest';
import { ipv4InCidr, parseControllerConfig } from '../../lib/cluster-config.ts';
import { ConfigurationError } from '../../lib/errors.ts';

const cluster = {
  name: 'main',
  vip: '198.19.0.50',
  routeTables: ['rtb-0123456789abcdef0'],
  allowedRoles: ['pgpool-node'],
};

describe('Function: parseControllerConfig', () => {
  it('fills the defaults users can leave out', () => {
    const config = parseControllerConfig(JSON.stringify({ clusters: [cluster] }), { ssmDocument: 'stack-doc' });

    expect(config).toEqual({
      proofFreshnessSeconds: 60,
      ssmWaitSeconds: 20,
      ledgerTtlDays: 90,
      clusters: [
        {
          ...cluster,
          interface: 'eth0',
          memberTag: { key: 'pgpool-vip:cluster', value: 'main' },
          ssmDocument: 'stack-doc',
          manageSourceDestCheck: true,
          heal: false,
          checkInterface: true,
        },
      ],
    });
  });

  it.each([
    [{ clusters: [{ ...cluster, vip: '198.19.0' }] }, 'clusters[0].vip: must be a dotted IPv4 address'],
    [{ clusters: [{ ...cluster, routeTables: [] }] }, 'clusters[0].routeTables: needs at least one route table'],
    [{ clusters: [{ ...cluster, routeTables: ['table-1'] }] }, 'clusters[0].routeTables[0]: must be a route table id (rtb-...)'],
    [{ clusters: [{ ...cluster, allowedRoles: ['arn:aws:iam::1:role/x'] }] }, 'clusters[0].allowedRoles[0]: must be an IAM role name (not an ARN)'],
    [{ clusters: [{ ...cluster, interface: 'eth0 up' }] }, 'clusters[0].interface: must be a Linux interface name'],
    [{ clusters: [{ ...cluster, vipp: '1.2.3.4' }] }, 'clusters[0]: unknown field "vipp"'],
    [{ clusters: [cluster, { ...cluster, vip: '198.19.0.51' }] }, 'clusters[1].name: duplicates clusters[0].name "main"'],
    [{ clusters: [cluster, { ...cluster, name: 'other' }] }, 'clusters[1].vip: 198.19.0.50 is already the VIP of clusters[0]'],
    [{ clusters: [] }, 'clusters: needs at least one cluster'],
    [{ clusters: [cluster], proofFreshnessSeconds: 3600 }, 'proofFreshnessSeconds: Number must be less than or equal to 900'],
    [{ clusters: [{ ...cluster, displacedHoldSeconds: 20 }] }, 'clusters[0].displacedHoldSeconds: was removed: a displaced node is no longer held for a time'],
    [{ clusters: [{ ...cluster, vip: '0.0.0.0' }] }, 'clusters[0].vip: 0.0.0.0 is "this network" (0.0.0.0/8)'],
    [{ clusters: [{ ...cluster, vip: '127.0.0.1' }] }, 'clusters[0].vip: 127.0.0.1 is loopback (127.0.0.0/8)'],
    [{ clusters: [{ ...cluster, vip: '169.254.169.254' }] }, 'clusters[0].vip: 169.254.169.254 is link-local'],
    [{ clusters: [{ ...cluster, vip: '224.0.0.18' }] }, 'clusters[0].vip: 224.0.0.18 is multicast (224.0.0.0/4)'],
    [{ clusters: [{ ...cluster, vip: '255.255.255.255' }] }, 'clusters[0].vip: 255.255.255.255 is the broadcast address (255.255.255.255/32)'],
    [{ clusters: [{ ...cluster, vip: '240.0.0.1' }] }, 'clusters[0].vip: 240.0.0.1 is reserved (240.0.0.0/4)'],
    [
      { clusters: [{ ...cluster, memberTag: { key: 'team', value: 'db' } }, { ...cluster, name: 'other', vip: '198.19.0.51', memberTag: { key: 'team', value: 'db' } }] },
      'clusters[1].memberTag: team=db is already the member tag of clusters[0]',
    ],
    [
      { clusters: [cluster, { ...cluster, name: 'other', vip: '198.19.0.51', memberTag: { key: 'pgpool-vip:cluster', value: 'main' } }] },
      'clusters[1].memberTag: pgpool-vip:cluster=main is already the member tag of clusters[0]',
    ],
  ])('names the bad field of %j', (document, message) => {
    expect(() => parseControllerConfig(document)).toThrow(ConfigurationError);
    expect(() => parseControllerConfig(document)).toThrow(message);
  });

  it('says so when the text is not JSON', () => {
    expect(() => parseControllerConfig('{clusters:')).toThrow(/^cluster configuration is not JSON: /);
  });
});

describe('Function: ipv4InCidr', () => {
  it.each([
    ['198.18.5.5', '198.18.0.0/16', true],
    ['198.19.0.50', '198.18.0.0/16', false],
    ['198.19.0.50', '198.18.0.0/15', true],
    ['198.19.0.50', '0.0.0.0/0', true],
    ['198.19.0.50', '198.19.0.50/32', true],
    ['198.19.0.51', '198.19.0.50/32', false],
  ])('%s in %s is %s', (ip, cidr, inside) => {
    expect(ipv4InCidr(ip, cidr)).toBe(inside);
  });
});
