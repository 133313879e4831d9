import { CreateRouteCommand, EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendAddressCommand } from '../../functions/adapters/ssm-address.ts';
import { destroyClients, motoClientConfig, motoClients } from '../../local/aws-clients.ts';
import type { AwsCall } from '../../local/front-door/aws-call.ts';
import { startAwsFrontDoor, type AwsFrontDoor, type SentCommand } from '../../local/front-door/front-door.ts';
import { createWorld } from '../../local/world.ts';
import { sharedMoto } from '../kit/moto.ts';

// The drill's VPC router and SSM stand-in follow these pushes instead of polling moto.
let moto: ReturnType<typeof sharedMoto>;
let door: AwsFrontDoor;
beforeAll(async () => {
  moto = sharedMoto();
  door = await startAwsFrontDoor({ host: '127.0.0.1', motoEndpoint: moto.endpoint });
});
afterAll(async () => {
  await door?.stop();
  await moto?.stop();
});

describe('AWS front door: each call moto answered is told as it took effect', () => {
  it('tells a route write with its status and parameters, and an SSM command with the instances it was sent to; nothing after the listener is removed', async () => {
    const clients = motoClients(moto.endpoint);
    const world = await createWorld(clients, { prefix: `fda${process.pid}-` });
    const [node] = world.instances;
    const [table] = world.routeTableIds;
    if (node === undefined || table === undefined) throw new Error('no instance or table');
    const told: Array<{ call: AwsCall; status: number; command: SentCommand | null; body: Buffer }> = [];
    door.onAnswered((call, status, command, body) => told.push({ call, status, command, body }));
    const ec2 = new EC2Client(motoClientConfig(door.endpoint));
    const ssm = new SSMClient(motoClientConfig(door.endpoint));
    try {
      await ec2.send(new CreateRouteCommand({ RouteTableId: table, DestinationCidrBlock: '198.19.0.50/32', NetworkInterfaceId: node.eni }));
      const commandId = await sendAddressCommand(ssm, { document: world.documentName, action: 'add', vip: '198.19.0.50', iface: 'eth0', instanceIds: [node.instanceId] });
      door.onAnswered(null);
      await ec2.send(new CreateRouteCommand({ RouteTableId: table, DestinationCidrBlock: '198.19.0.51/32', NetworkInterfaceId: node.eni }));

      expect(told.map(({ call, status }) => [call.service, call.operation, status])).toEqual([
        ['ec2', 'CreateRoute', 200],
        ['ssm', 'SendCommand', 200],
      ]);
      expect(told[0]?.command).toBeNull();
      const write = new URLSearchParams(told[0]?.body.toString('utf8'));
      expect([write.get('RouteTableId'), write.get('DestinationCidrBlock'), write.get('NetworkInterfaceId')]).toEqual([table, '198.19.0.50/32', node.eni]);
      expect(told[1]?.command).toMatchObject({ commandId, instanceIds: [node.instanceId], documentName: world.documentName, parameters: { Action: ['add'] } });
    } finally {
      door.onAnswered(null);
      ec2.destroy();
      ssm.destroy();
      destroyClients(clients);
    }
  });
});
