// Preload (`node --import`) for a tool a test runs against emulators: every TCP connection to an
// address other than loopback fails before a packet leaves, so a client that ignores the endpoint
// variables cannot reach the internet (or a real AWS account). Unix sockets pass.
import net from 'node:net';
import process from 'node:process';

const LOOPBACK = /^(127(?:\.\d{1,3}){3}|localhost|::1|::ffff:127(?:\.\d{1,3}){3})$/i;
const connect = net.Socket.prototype.connect;

/** The host of every form `socket.connect` takes: (options, cb), (port, host, cb), ([options, cb]). */
function targetOf(args) {
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (typeof first === 'object' && first !== null) return typeof first.path === 'string' ? undefined : (first.host ?? 'localhost');
  if (typeof first === 'string' && !/^\d+$/.test(first)) return undefined; // a path
  return typeof args[1] === 'string' ? args[1] : 'localhost';
}

net.Socket.prototype.connect = function connectLoopbackOnly(...args) {
  const host = targetOf(args);
  if (host !== undefined && !LOOPBACK.test(host)) {
    const message = `loopback-only: refused a connection to ${host} (only loopback is allowed here)`;
    process.stderr.write(`${message}\n`);
    throw new Error(message);
  }
  return connect.apply(this, args);
};
