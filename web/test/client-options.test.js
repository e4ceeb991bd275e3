// Options are checked when the client is made, and each limit does what it says.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';

import { CovenClient, DEFAULT_OPTIONS } from '../coven-client.js';
import { waitForEvent } from '../testsupport/fake-stream-server.js';
import { startClientAndServer } from '../testsupport/harness.js';
import { snapshotHello } from '../testsupport/frames.js';

const TEST = { timeout: 10_000 };
const valid = { url: 'wss://app.example.com/ws', tokenProvider: () => ({ token: 't' }), WebSocket };

const invalid = [
  { name: 'no options', options: undefined, error: /options are required/ },
  { name: 'an http URL', options: { ...valid, url: 'https://app.example.com/ws' }, error: /options.url must be a ws: or wss: URL/ },
  { name: 'no token provider', options: { ...valid, tokenProvider: 'token' }, error: /options.tokenProvider must be a function/ },
  { name: 'a negative delay', options: { ...valid, initialBackoffMs: -1 }, error: /options.initialBackoffMs must be a number of at least 0/ },
  { name: 'a delay that is not a number', options: { ...valid, handshakeTimeoutMs: '10s' }, error: /options.handshakeTimeoutMs/ },
  { name: 'an infinite delay', options: { ...valid, maxBackoffMs: Infinity }, error: /options.maxBackoffMs/ },
  { name: 'jitter over 1', options: { ...valid, jitter: 1.5 }, error: /options.jitter must be between 0 and 1/ },
  { name: 'a shrinking backoff', options: { ...valid, backoffFactor: 0.5 }, error: /options.backoffFactor must be at least 1/ },
  { name: 'a maximum under the first delay', options: { ...valid, initialBackoffMs: 100, maxBackoffMs: 10 }, error: /maxBackoffMs must be at least initialBackoffMs/ },
  { name: 'no WebSocket at all', options: { ...valid, WebSocket: null }, error: /no WebSocket implementation/, noGlobal: true },
];
for (const c of invalid) {
  test(`options: ${c.name} is refused`, () => {
    const saved = globalThis.WebSocket;
    if (c.noGlobal) delete globalThis.WebSocket;
    try {
      assert.throws(() => new CovenClient(c.options), c.error);
    } finally {
      if (saved) globalThis.WebSocket = saved;
    }
  });
}

test('options: the defaults are those documented', () => {
  const client = new CovenClient(valid);
  assert.equal(client.status, 'idle');
  assert.deepEqual(Object.keys(DEFAULT_OPTIONS).sort(), [
    'backoffFactor', 'handshakeTimeoutMs', 'initialBackoffMs', 'jitter', 'limitRetryMs', 'maxBackoffMs', 'minRefreshDelayMs',
    'pingIntervalMs', 'policyRetryMs', 'pongTimeoutMs', 'refreshMarginMs', 'stableAfterMs',
  ]);
  assert.equal(DEFAULT_OPTIONS.maxBackoffMs, 30_000);
  assert.equal(DEFAULT_OPTIONS.policyRetryMs, 60_000);
  assert.equal(DEFAULT_OPTIONS.limitRetryMs, 15_000);
});

test('handshakeTimeoutMs: a server that never says hello is left, and the client tries again', TEST, async (t) => {
  const { client } = await startClientAndServer(t, { handshakeTimeoutMs: 50 });
  const left = waitForEvent(client, 'status', (d) => d.status === 'reconnecting');
  client.start();
  assert.equal((await left).reason, 'handshake_timeout');
  const tried = waitForEvent(client, 'status', (d) => d.status === 'reconnecting' && d.attempt === 2);
  assert.equal((await tried).reason, 'handshake_timeout');
});

test('pingIntervalMs: the client pings, and a server that answers keeps the connection', TEST, async (t) => {
  const { server, client } = await startClientAndServer(t, { pingIntervalMs: 20, pongTimeoutMs: 2000 });
  client.start();
  const { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 1, []));
  for (let i = 0; i < 5; i++) {
    assert.deepEqual(await conn.nextMessage(), { type: 'ping' });
    conn.send({ type: 'pong' });
  }
  assert.equal(client.status, 'connected');
  assert.equal(server.connections.length, 1);
});

test('pongTimeoutMs: a server that goes silent after a ping is left', TEST, async (t) => {
  const { server, client } = await startClientAndServer(t, { pingIntervalMs: 20, pongTimeoutMs: 40 });
  client.start();
  const { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 1, []));
  assert.deepEqual(await conn.nextMessage(), { type: 'ping' });
  const status = await waitForEvent(client, 'status', (d) => d.status === 'reconnecting');
  assert.equal(status.reason, 'ping_timeout');
  const { auth } = await server.nextAuth();
  assert.deepEqual(auth.resume, { epoch: 'e1', seq: 1 });
});

test('pingIntervalMs 0: no pings', TEST, async (t) => {
  const { server, client } = await startClientAndServer(t, { pingIntervalMs: 0 });
  client.start();
  const { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 1, []));
  await assert.rejects(conn.nextMessage(200), /no client message within/);
});
