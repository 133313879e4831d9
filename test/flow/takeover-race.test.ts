import { describe, expect, it } from 'vitest';
import { localContext } from '../../local/controller.ts';
import { envelope, signedDetail } from '../../local/requests.ts';
import type { WorldInstance } from '../../local/world.ts';
import { createRaceWorld } from '../../local/harness/races.ts';

/** A promise with its resolve handle. */
function gate(): { opened: Promise<void>; open(): void } {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe('Takeover while the displaced request still writes routes', () => {
  it('ends with every route on the newest holder when a late route write lands after the newer request read the routes', async () => {
    // node 2 holds the VIP. node 0's up takes it (VIP record v2) and its route writes are slow;
    // node 2's new up reads the routes while they still point at node 2, then node 0's writes
    // land and node 0 finds no newer holder yet; only then does node 2 write VIP record v3.
    const aWritesRoutes = gate();
    const bReadEverything = gate();
    const aFinished = gate();
    let race = false;
    const { aws, handler, world, instances, stsEndpoint, vipCidr } = createRaceWorld(async (service, operation, input) => {
      if (!race) return null;
      const json = JSON.stringify(input);
      if (operation === 'ReplaceRoute' && json.includes(instances[0]?.eni ?? '?')) {
        aWritesRoutes.open();
        await bReadEverything.opened;
      }
      // The VIP record write of node 2's new up: a PutItem, or a Put inside the claim's transaction.
      type Item = { pk?: { S?: string }; holderInstanceId?: { S?: string } };
      const transactItems = (input.TransactItems as Array<{ Put?: { Item?: Item } }> | undefined) ?? [];
      const items: Array<Item | undefined> = [input.Item as Item | undefined, ...transactItems.map((action) => action.Put?.Item)];
      const writesNode2Vip = items.some((item) => item?.pk?.S?.startsWith('vip#') === true && item.holderInstanceId?.S === instances[2]?.instanceId);
      if (service === 'dynamodb' && writesNode2Vip) {
        bReadEverything.open();
        await aFinished.opened;
      }
      return null;
    });
    const [node0, , node2] = world.instances as [WorldInstance, WorldInstance, WorldInstance];
    const up = async (node: WorldInstance, at: number, escalation: string) =>
      envelope(
        await signedDetail(world, node, {
          action: 'up',
          issuedAt: new Date(at),
          stsEndpoint: stsEndpoint.href,
          detail: { incarnation: { bootId: '0b0e0000-0000-4000-8000-00000000000a', watchdog: '100@1000', escalation } },
        }),
        world,
      );
    const base = Date.now() - 10_000;
    expect((await handler(await up(node2, base, '201@2001'), localContext())).outcome).toBe('applied');

    race = true;
    const a = handler(await up(node0, base + 1_000, '301@3001'), localContext()).finally(() => aFinished.open());
    await aWritesRoutes.opened;
    const b = handler(await up(node2, base + 2_000, '202@2002'), localContext());
    const [first, second] = await Promise.all([a, b]);

    expect([first.outcome, second.outcome]).toEqual(['applied', 'applied']);
    expect(aws.routeTargets(vipCidr)).toEqual(Object.fromEntries(world.routeTableIds.map((id) => [id, node2.eni])));
  });
});
