import type { AwsFrontDoor } from '../../local/front-door/front-door.ts';
import { createLocalController, requestEnvelope, type LocalController, type LocalControllerOptions } from '../../local/controller.ts';
import type { World } from '../../local/world.ts';

/** Local controllers fed by push from a front door, as EventBridge invokes a Lambda target. */
export interface RequestPush {
  /**
   * A controller of `options.world` that is handed each request event the door saw moto accept
   * on that world's bus, at once: nothing polls the request queue (the bus's rule still fills it).
   * Its stop() also takes it off the door.
   */
  controller(options: Omit<LocalControllerOptions, 'delivery'>): LocalController;
}

/**
 * Takes over the door's accepted-event listener: an idle controller polling its queue costs
 * moto and the worker CPU, and a poll step of latency per request.
 */
export function requestPush(door: AwsFrontDoor): RequestPush {
  const receivers = new Set<{ world: World; controller: LocalController }>();
  door.onAcceptedEvents((events, acceptedAt) => {
    for (const event of events) {
      for (const { world, controller } of receivers) {
        const envelope = requestEnvelope(world, event, acceptedAt);
        if (envelope !== null) controller.deliver(envelope, acceptedAt);
      }
    }
  });
  return {
    controller(options) {
      const controller = createLocalController({ ...options, delivery: 'push' });
      const receiver = { world: options.world, controller };
      receivers.add(receiver);
      return {
        clients: controller.clients,
        drain: () => controller.drain(),
        deliver: (event, putAt) => controller.deliver(event, putAt),
        start: () => controller.start(),
        async stop() {
          receivers.delete(receiver);
          await controller.stop();
        },
      };
    },
  };
}
