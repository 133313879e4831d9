// The drill's AWS endpoint is the project's one front door (latency model, faults, SendCommand targets).
export { startAwsFrontDoor, type AwsFrontDoor, type SentCommand } from '../local/front-door/front-door.ts';
