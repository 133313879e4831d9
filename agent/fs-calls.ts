import { access, close, fstat, open, read, readFile, stat } from 'node:fs';
import { promisify } from 'node:util';

/**
 * The few file calls `up` and `down` make, as promises over node:fs's callback API. Not
 * node:fs/promises: Node's own start has loaded node:fs already, while node:fs/promises
 * compiles a further set of Node's internal modules, milliseconds on the critical path of a
 * failover for the five calls the agent makes before it sends its request.
 */
export const fsCalls = {
  access: promisify(access),
  close: promisify(close),
  fstat: promisify(fstat),
  open: promisify(open),
  read: promisify(read),
  readFile: promisify(readFile),
  stat: promisify(stat),
};
