// Tokens: refreshed on the open socket before they expire, asked for again when the server refuses
// them, and never reported in any event the client dispatches.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';

import { CloseCode, CovenClient } from '../coven-client.js';
import { FakeStreamServer, recordEvents, waitForEvent } from '../testsupport/fake-stream-server.js';
import { startClientAndServer } from '../testsupport/harness.js';
import { snapshotHello } from '../testsupport/frames.js';

const TEST = { timeout: 10_000 };

test('a token is refreshed on the open socket before it expires, again and again', TEST, async (t) => {
  // A 400 ms token with a 300 ms margin is refreshed at half its lifetime.
  const { server, client, tokens } = await startClientAndServer(t, {
    tokenLifetimeMs: 400, refreshMarginMs: 300, minRefreshDelayMs: 10,
  });
  client.start();
  const { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 2, []));
  assert.deepEqual(await conn.nextMessage(), { type: 'auth', token: 'token-2' });
  assert.deepEqual(await conn.nextMessage(), { type: 'auth', token: 'token-3' });
  assert.deepEqual(tokens, ['connect', 'refresh', 'refresh']);
  assert.equal(server.connections.length, 1, 'the refresh does not reconnect');
});

test('a failed refresh is reported and tried again while the socket lives', TEST, async (t) => {
  const server = await FakeStreamServer.start();
  const asked = [];
  const client = new CovenClient({
    url: server.url, WebSocket, pingIntervalMs: 0, refreshMarginMs: 300, minRefreshDelayMs: 10,
    tokenProvider: async (reason) => {
      asked.push(reason);
      if (asked.length === 2) throw new Error('identity provider unreachable');
      return { token: `token-${asked.length}`, expiresAt: Date.now() + 400 };
    },
  });
  t.after(async () => {
    client.close();
    await server.close();
  });
  const failed = waitForEvent(client, 'error', (d) => d.code === 'token_provider');
  client.start();
  const { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 2, []));
  assert.match((await failed).message, /the token refresh failed: identity provider unreachable/);
  assert.deepEqual(await conn.nextMessage(), { type: 'auth', token: 'token-3' });
});

test('without expiresAt nothing is refreshed until the server says the token expired', TEST, async (t) => {
  const server = await FakeStreamServer.start();
  const asked = [];
  const client = new CovenClient({
    url: server.url, WebSocket, pingIntervalMs: 0, initialBackoffMs: 5, maxBackoffMs: 5,
    tokenProvider: (reason) => {
      asked.push(reason);
      return { token: `token-${asked.length}` };
    },
  });
  t.after(async () => {
    client.close();
    await server.close();
  });
  client.start();
  let { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 2, []));
  await waitForEvent(client, 'status', (d) => d.status === 'connected');
  conn.fail(CloseCode.TOKEN_EXPIRED, 'token_expired', 'the token expired; reconnect with a fresh one');
  const { auth } = await server.nextAuth();
  assert.deepEqual(auth, { type: 'auth', token: 'token-2', resume: { epoch: 'e1', seq: 2 } });
  assert.deepEqual(asked, ['connect', 'expired']);
});

const badProviders = [
  { name: 'throws', provider: () => { throw new Error('offline'); }, message: /the token provider failed: offline/ },
  { name: 'rejects', provider: () => Promise.reject(new Error('503 from the identity provider')), message: /503 from the identity provider/ },
  { name: 'returns no token', provider: () => ({ expiresAt: Date.now() + 1000 }), message: /must return \{token, expiresAt\}/ },
  { name: 'returns a bad expiresAt', provider: () => ({ token: 'tok', expiresAt: 'tomorrow' }), message: /expiresAt must be a Date or milliseconds/ },
];
for (const c of badProviders) {
  test(`a token provider that ${c.name} is reported and retried with backoff`, TEST, async (t) => {
    const server = await FakeStreamServer.start();
    let calls = 0;
    const client = new CovenClient({
      url: server.url, WebSocket, pingIntervalMs: 0, initialBackoffMs: 5, maxBackoffMs: 5,
      tokenProvider: () => (++calls < 3 ? c.provider() : { token: 'good' }),
    });
    t.after(async () => {
      client.close();
      await server.close();
    });
    const errors = recordEvents(client, 'error');
    client.start();
    const { auth } = await server.nextAuth();
    assert.equal(auth.token, 'good');
    assert.equal(errors.length, 2);
    for (const e of errors) {
      assert.equal(e.detail.code, 'token_provider');
      assert.match(e.detail.message, c.message);
    }
  });
}

test('no event the client dispatches carries a token', TEST, async (t) => {
  const { server, client } = await startClientAndServer(t, {
    tokenLifetimeMs: 400, refreshMarginMs: 300, minRefreshDelayMs: 10,
  });
  const seen = recordEvents(client, 'status', 'state', 'event', 'error');
  client.start();
  let { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 2, []));
  await conn.nextMessage(); // a refresh went by
  conn.fail(CloseCode.UNAUTHORIZED, 'unauthorized', 'the token is for another user');
  ({ conn } = await server.nextAuth());
  conn.fail(CloseCode.POLICY_VIOLATION, 'bad_message', 'unknown message type');
  await waitForEvent(client, 'error', (d) => d.code === 'policy_violation');
  const dump = JSON.stringify(seen) + JSON.stringify(client.state);
  assert.ok(seen.length > 5);
  assert.doesNotMatch(dump, /token-\d/);
});
