// What users of other real-time clients (centrifuge-js) expect: a ready() promise, start() after
// close(), an immediate reconnection when the browser comes back online, and token refresh from the
// JWT's own exp when the provider gives no expiresAt.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';

import { CovenClient, jwtExpiry } from '../coven-client.js';
import { FakeStreamServer, waitForEvent } from '../testsupport/fake-stream-server.js';
import { startClientAndServer } from '../testsupport/harness.js';
import { event, room, snapshotHello, resumedHello } from '../testsupport/frames.js';

const TEST = { timeout: 10_000 };

test('ready() resolves once connected, at once when connected, and rejects on close()', TEST, async (t) => {
  const { server, client } = await startClientAndServer(t);
  const early = client.ready();
  client.start();
  const { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 3, []));
  const state = await early;
  assert.equal(state.status, 'connected');
  assert.deepEqual(state.position, { epoch: 'e1', seq: 3 });
  assert.equal((await client.ready()).status, 'connected');

  client.close();
  await assert.rejects(client.ready(), /closed/);
  const pending = client.ready();
  client.start(); // connecting again: not ready until the hello
  client.close();
  await assert.rejects(pending, /closed/);
});

test('ready(timeoutMs) rejects when the stream is not up in time', TEST, async (t) => {
  const { client } = await startClientAndServer(t);
  client.start(); // the server never answers the auth message
  await assert.rejects(client.ready(50), /not connected within 50 ms/);
});

test('start() after close() connects again and resumes', TEST, async (t) => {
  const { server, client } = await startClientAndServer(t);
  client.start();
  let { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 7, []));
  await client.ready();
  client.close();
  assert.equal((await conn.closed).code, 1000);

  client.start();
  const next = await server.nextAuth();
  assert.deepEqual(next.auth.resume, { epoch: 'e1', seq: 7 });
  next.conn.send(resumedHello('e1', 7));
  assert.equal((await client.ready()).status, 'resumed');
});

test('coming back online retries at once instead of waiting out the backoff', TEST, async (t) => {
  const network = new EventTarget();
  const { server, client } = await startClientAndServer(t, { network, initialBackoffMs: 60_000, maxBackoffMs: 60_000 });
  client.start();
  let { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 2, []));
  await client.ready();
  network.dispatchEvent(new Event('offline'));
  conn.ws.terminate(); // the link dropped; the next attempt is a minute away
  await waitForEvent(client, 'status', (d) => d.status === 'reconnecting' && d.delayMs >= 30_000);
  network.dispatchEvent(new Event('online'));
  const { auth } = await server.nextAuth(2000);
  assert.deepEqual(auth.resume, { epoch: 'e1', seq: 2 });
});

test('online after offline replaces a connection that still looks up', TEST, async (t) => {
  const network = new EventTarget();
  const { server, client } = await startClientAndServer(t, { network });
  client.start();
  const { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 4, []));
  await client.ready();
  network.dispatchEvent(new Event('online')); // online without offline before: nothing to do
  await assert.rejects(server.nextConnection(200), /no connection within/);
  network.dispatchEvent(new Event('offline'));
  network.dispatchEvent(new Event('online'));
  const { auth } = await server.nextAuth();
  assert.deepEqual(auth.resume, { epoch: 'e1', seq: 4 });
  assert.equal((await conn.closed).code, 1000);
  client.close();
  network.dispatchEvent(new Event('offline'));
  network.dispatchEvent(new Event('online')); // closed: the listeners are gone
  await assert.rejects(server.nextConnection(200), /no connection within/);
});

/** A JWT (unsigned: the client only decodes it) with these claims. */
function jwt(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'ES256', typ: 'JWT' })}.${b64(claims)}.c2ln`;
}

test('jwtExpiry reads exp from a JWT and nothing from anything else', () => {
  assert.equal(jwtExpiry(jwt({ sub: 'a', exp: 1_900_000_000 })), 1_900_000_000_000);
  assert.equal(jwtExpiry(jwt({ sub: 'a', name: 'Zoë ✨' , exp: 1_900_000_001 })), 1_900_000_001_000);
  assert.equal(jwtExpiry(jwt({ sub: 'a' })), undefined);
  assert.equal(jwtExpiry(jwt({ exp: '1900000000' })), undefined);
  assert.equal(jwtExpiry('opaque-token'), undefined);
  assert.equal(jwtExpiry('a.%%%.c'), undefined);
});

test('without expiresAt the JWT exp schedules the refresh before expiry', TEST, async (t) => {
  const server = await FakeStreamServer.start();
  const asked = [];
  const client = new CovenClient({
    url: server.url, WebSocket, pingIntervalMs: 0, refreshMarginMs: 300, minRefreshDelayMs: 10, network: null,
    tokenProvider: (reason) => {
      asked.push(reason);
      // exp is in whole seconds: 2 s from now, refreshed 300 ms before.
      return { token: jwt({ sub: 'alice', n: asked.length, exp: Math.floor(Date.now() / 1000) + 2 }) };
    },
  });
  t.after(async () => {
    client.close();
    await server.close();
  });
  client.start();
  const { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 1, []));
  const refreshed = await conn.nextMessage(5000);
  assert.equal(refreshed.type, 'auth');
  assert.deepEqual(asked, ['connect', 'refresh']);
  assert.equal(server.connections.length, 1, 'refreshed on the open socket, before any 4003');
});

test('a hello with state "unknown" keeps the rooms held and marks them unknown until a snapshot', TEST, async (t) => {
  const { server, client } = await startClientAndServer(t);
  client.start();
  let { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 3, [room('1200000000000000001', 'Table')]));
  await client.ready();
  assert.equal(client.stateKnown, true);
  conn.ws.terminate(); // the edge restarts, holding nothing
  const next = await server.nextAuth();
  assert.deepEqual(next.auth.resume, { epoch: 'e1', seq: 3 });
  next.conn.send({ type: 'hello', resumed: false, epoch: '', seq: 0, state: 'unknown', snapshot: null });
  await waitForEvent(client, 'status', (d) => d.status === 'snapshot');
  assert.equal(client.stateKnown, false);
  assert.equal(client.rooms.length, 1, 'the rooms held are kept, not replaced by an empty world');
  assert.deepEqual(client.position, { epoch: 'e1', seq: 3 }, 'the position is kept to resume elsewhere');
  // The worker's snapshot arrives as an event: the rooms are known again.
  next.conn.send(event(4, 'snapshot', { rooms: [] }));
  await waitForEvent(client, 'state', () => client.stateKnown);
  assert.equal(client.rooms.length, 0);
  assert.deepEqual(client.position, { epoch: 'e1', seq: 4 });
});

test('a first hello with state "unknown" is connected with no rooms known', TEST, async (t) => {
  const { server, client } = await startClientAndServer(t);
  client.start();
  const { conn } = await server.nextAuth();
  conn.send({ type: 'hello', resumed: false, epoch: '', seq: 0, state: 'unknown', snapshot: null });
  const state = await client.ready();
  assert.equal(state.stateKnown, false);
  assert.equal(state.position, null);
  assert.deepEqual(state.rooms, []);
});
