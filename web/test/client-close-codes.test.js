// Each close code of docs/protocol.md gets its reaction: which token the client reconnects with,
// whether it resumes, how soon it comes back, and what it reports.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { CloseCode } from '../coven-client.js';
import { waitForEvent } from '../testsupport/fake-stream-server.js';
import { startClientAndServer } from '../testsupport/harness.js';
import { snapshotHello } from '../testsupport/frames.js';

const TEST = { timeout: 10_000 };
const BACKOFF_MS = 5; // initialBackoffMs of the harness, drawn with no jitter
const POLICY_RETRY_MS = 60_000;
const LIMIT_RETRY_MS = 15_000;

const cases = [
  {
    name: '4001 unauthorized: a new token, then reconnect and resume with backoff',
    code: CloseCode.UNAUTHORIZED, error: 'unauthorized',
    tokenAsked: 'unauthorized', token: 'token-2', delayMs: BACKOFF_MS,
  },
  {
    name: '4002 no auth in time: reconnect at once with the same token',
    code: CloseCode.NO_AUTH, error: 'auth_timeout', token: 'token-1', delayMs: 0,
  },
  {
    name: '4003 token expired: a fresh token, then resume at once',
    code: CloseCode.TOKEN_EXPIRED, error: 'token_expired',
    tokenAsked: 'expired', token: 'token-2', delayMs: 0,
  },
  {
    name: '4008 too slow: resume with backoff',
    code: CloseCode.TOO_SLOW, error: 'too_slow', token: 'token-1', delayMs: BACKOFF_MS,
  },
  {
    name: '1012 restarting: resume with backoff',
    code: CloseCode.RESTARTING, error: 'restarting', token: 'token-1', delayMs: BACKOFF_MS,
  },
  {
    name: '1013 try again later: resume with backoff',
    code: CloseCode.TRY_AGAIN_LATER, error: 'unavailable', token: 'token-1', delayMs: BACKOFF_MS,
  },
  {
    name: '1008 policy violation: reported, and no fast retry',
    code: CloseCode.POLICY_VIOLATION, error: 'bad_message', reported: 'policy_violation', slow: true,
  },
  {
    name: '1009 message too big: reported, and no fast retry',
    code: CloseCode.MESSAGE_TOO_BIG, error: 'too_big', reported: 'message_too_big', slow: true,
  },
  {
    name: '4005 too many streams: reported, and no retry before limitRetryMs',
    code: CloseCode.TOO_MANY_STREAMS, error: 'too_many_streams', reported: 'too_many_streams', slow: true, least: LIMIT_RETRY_MS,
  },
  {
    name: '4029 rate limited: reported, and no retry before limitRetryMs',
    code: CloseCode.RATE_LIMITED, error: 'rate_limited', reported: 'rate_limited', slow: true, least: LIMIT_RETRY_MS,
  },
];

for (const c of cases) {
  test(`close code ${c.name}`, TEST, async (t) => {
    const { server, client, tokens } = await startClientAndServer(t, { policyRetryMs: POLICY_RETRY_MS, limitRetryMs: LIMIT_RETRY_MS });
    const errors = [];
    client.addEventListener('error', (ev) => errors.push(ev.detail));
    client.start();
    const { conn } = await server.nextAuth();
    conn.send(snapshotHello('e1', 3, []));
    await waitForEvent(client, 'status', (d) => d.status === 'connected');

    const reconnecting = waitForEvent(client, 'status', (d) => d.status === 'reconnecting');
    conn.fail(c.code, c.error, `closing with ${c.code}`);
    const status = await reconnecting;
    assert.equal(status.code, c.code);
    assert.deepEqual(status.error, { code: c.error, message: `closing with ${c.code}` }, 'the error frame is reported with the close');
    assert.deepEqual(errors[0], { code: c.error, message: `closing with ${c.code}` });

    if (c.slow) {
      assert.ok(status.delayMs >= (c.least ?? POLICY_RETRY_MS), `retries after ${status.delayMs} ms`);
      assert.equal(errors[1].code, c.reported);
      assert.equal(errors[1].closeCode, c.code);
      await assert.rejects(server.nextConnection(300), /no connection within/);
      return;
    }
    assert.equal(status.delayMs, c.delayMs);
    const { auth } = await server.nextAuth();
    assert.deepEqual(auth, { type: 'auth', token: c.token, resume: { epoch: 'e1', seq: 3 } });
    assert.deepEqual(tokens, c.tokenAsked ? ['connect', c.tokenAsked] : ['connect']);
  });
}

test('a connection closed before its hello backs off: the delay doubles up to the maximum', TEST, async (t) => {
  const { server, client } = await startClientAndServer(t, { initialBackoffMs: 5, maxBackoffMs: 20 });
  const delays = [];
  client.addEventListener('status', (ev) => {
    if (ev.detail.status === 'reconnecting') delays.push(ev.detail.delayMs);
  });
  client.start();
  for (let i = 0; i < 5; i++) {
    const { conn } = await server.nextAuth();
    conn.fail(CloseCode.TRY_AGAIN_LATER, 'unavailable', 'the event stream is unavailable; retry');
  }
  await server.nextConnection();
  assert.deepEqual(delays, [5, 10, 20, 20, 20]);
});

test('jitter draws part of each delay at random', TEST, async (t) => {
  const { server, client } = await startClientAndServer(t, { initialBackoffMs: 100, maxBackoffMs: 100, jitter: 0.5, random: () => 1 });
  client.start();
  const { conn } = await server.nextAuth();
  const reconnecting = waitForEvent(client, 'status', (d) => d.status === 'reconnecting');
  conn.ws.close(CloseCode.RESTARTING);
  assert.equal((await reconnecting).delayMs, 50);
});

test('a connection that stayed up long enough starts the backoff over; a short one does not', TEST, async (t) => {
  const { server, client } = await startClientAndServer(t, { initialBackoffMs: 5, maxBackoffMs: 1000, stableAfterMs: 1000 });
  const delays = [];
  client.addEventListener('status', (ev) => {
    if (ev.detail.status === 'reconnecting') delays.push(ev.detail.delayMs);
  });
  client.start();
  // Two connections that end right after their hello: the backoff grows.
  for (let i = 0; i < 2; i++) {
    const { conn } = await server.nextAuth();
    conn.send(snapshotHello('e1', 1, []));
    await waitForEvent(client, 'status', () => client.connected);
    conn.ws.close(CloseCode.TOO_SLOW);
  }
  // One that lives past stableAfterMs: the next delay is the first again.
  const { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 1, []));
  await waitForEvent(client, 'status', () => client.connected);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  conn.ws.close(CloseCode.TOO_SLOW);
  await server.nextConnection();
  assert.deepEqual(delays, [5, 10, 5]);
});

test('a network loss without a close code resumes with backoff', TEST, async (t) => {
  const { server, client } = await startClientAndServer(t);
  client.start();
  const { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 8, []));
  await waitForEvent(client, 'status', (d) => d.status === 'connected');
  const reconnecting = waitForEvent(client, 'status', (d) => d.status === 'reconnecting');
  conn.ws.terminate();
  assert.equal((await reconnecting).code, 1006);
  const { auth } = await server.nextAuth();
  assert.deepEqual(auth.resume, { epoch: 'e1', seq: 8 });
});
