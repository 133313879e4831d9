/**
 * Names a moto_server that already runs (a loopback http URL): `npm start` then creates its world
 * there, its names apart from whatever else lives in that server, instead of starting one of its
 * own, which costs seconds of CPU to start and to load each AWS service on its first request.
 * The test of `npm start` hands it the test run's server this way.
 */
export const MOTO_ENDPOINT_ENV = 'PGPOOL_VIP_MOTO_ENDPOINT';

/**
 * The endpoint `value` names, or why it names none: only a server on this machine stands in for
 * AWS here (the story hands it the demo's credentials and builds a world there), and only as
 * scheme, host and port, the form the SDK's endpoint settings take.
 */
export function runningMotoEndpoint(value: string): { endpoint: string } | { error: string } {
  const refused = (why: string): { error: string } => ({
    error: `${MOTO_ENDPOINT_ENV}=${JSON.stringify(value)} is ${why}: name a running moto_server as http://127.0.0.1:<port>, or unset it to start one`,
  });
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return refused('not a URL');
  }
  if (url.protocol !== 'http:') return refused('not an http URL');
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) return refused('not on the loopback (127.0.0.1, localhost or [::1])');
  if (url.port === '') return refused('without a port');
  if (url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '') return refused('more than a scheme, host and port');
  return { endpoint: url.origin };
}
