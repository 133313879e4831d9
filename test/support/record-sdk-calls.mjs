// Preload (`node --import`) that appends one line per AWS SDK v3 call the process makes,
// `<serviceId> <Operation>`, to the file named by PGPOOL_VIP_SDK_CALLS_FILE. It patches the one
// shared Client base class, so it sees the calls of a tool's own clients (serverless deploy).
import { appendFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import process from 'node:process';

const file = process.env.PGPOOL_VIP_SDK_CALLS_FILE;
if (file !== undefined && file !== '') {
  const { Client } = createRequire(import.meta.url)('@smithy/core/client');
  const send = Client.prototype.send;
  Client.prototype.send = function sendRecorded(command, ...rest) {
    const operation = command?.constructor?.name?.replace(/Command$/, '') ?? 'unknown';
    appendFileSync(file, `${this.config?.serviceId ?? 'unknown'} ${operation}\n`);
    return send.call(this, command, ...rest);
  };
}
