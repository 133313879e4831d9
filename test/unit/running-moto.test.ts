import { describe, expect, it } from 'vitest';
import { MOTO_ENDPOINT_ENV, runningMotoEndpoint } from '../../local/running-moto.ts';

// `npm start` in a moto_server that already runs: only one on this machine, named by scheme, host and port.
describe(`Function: the running moto_server ${MOTO_ENDPOINT_ENV} names`, () => {
  it.each([
    ['http://127.0.0.1:5000', 'http://127.0.0.1:5000'],
    ['http://127.0.0.1:5000/', 'http://127.0.0.1:5000'],
    ['http://localhost:41234', 'http://localhost:41234'],
    ['http://[::1]:5000', 'http://[::1]:5000'],
  ])('takes %s as %s', (value, endpoint) => {
    expect(runningMotoEndpoint(value)).toEqual({ endpoint });
  });

  it.each([
    ['127.0.0.1:5000', 'not a URL'],
    ['moto', 'not a URL'],
    ['https://127.0.0.1:5000', 'not an http URL'],
    ['http://198.18.0.5:5000', 'not on the loopback (127.0.0.1, localhost or [::1])'],
    ['http://ec2.us-east-1.amazonaws.com:443', 'not on the loopback (127.0.0.1, localhost or [::1])'],
    ['http://127.0.0.1', 'without a port'],
    ['http://127.0.0.1:5000/moto-api', 'more than a scheme, host and port'],
    ['http://user:secret@127.0.0.1:5000', 'more than a scheme, host and port'],
    ['http://127.0.0.1:5000/?x=1', 'more than a scheme, host and port'],
  ])('refuses %s: %s, saying how to name one or start one', (value, why) => {
    expect(runningMotoEndpoint(value)).toEqual({
      error: `${MOTO_ENDPOINT_ENV}=${JSON.stringify(value)} is ${why}: name a running moto_server as http://127.0.0.1:<port>, or unset it to start one`,
    });
  });
});
