// The page's HTTP calls turn every failure into a message a person can read, against a real HTTP
// server answering as each API does.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';

import { ApiError, DiscordSimulator, IdentityProvider, RoomsApi, requestJSON } from '../api.js';

const TEST = { timeout: 10_000 };

/** Starts an HTTP server answering each request with respond(req, body) -> {status, type?, body?}. */
async function serve(t, respond) {
  const requests = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      requests.push({ method: req.method, url: req.url, headers: req.headers, body: body && JSON.parse(body) });
      const answer = respond(req, body);
      if (answer.hang) return; // never answers
      const headers = answer.type === undefined ? { 'Content-Type': 'application/json' } : answer.type ? { 'Content-Type': answer.type } : {};
      res.writeHead(answer.status, headers);
      res.end(answer.body === undefined ? undefined : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  return { base: `http://127.0.0.1:${server.address().port}`, requests };
}

const failures = [
  {
    name: 'the edge and rooms API error shape',
    answer: { status: 403, body: { error: { code: 'forbidden', message: 'only the owner or an admin may delete this room' } } },
    message: 'Doing it: only the owner or an admin may delete this room', status: 403, code: 'forbidden',
  },
  {
    name: "the emulator control API's error shape",
    answer: { status: 400, body: { error: 'unknown user 42' } },
    message: 'Doing it: unknown user 42', status: 400, code: '',
  },
  {
    name: "Discord's error shape, passed on by the emulator",
    answer: { status: 404, body: { code: 10003, message: 'Unknown Channel' } },
    message: 'Doing it: Unknown Channel', status: 404, code: '10003',
  },
  {
    name: 'an error without a message names the status',
    answer: { status: 502, body: {} },
    message: 'Doing it: HTTP 502', status: 502, code: '',
  },
  {
    name: 'an endpoint that does not exist (an empty 200, as Caddy answers unrouted paths)',
    answer: { status: 200, type: null, body: '' },
    message: 'Doing it: not available here (HTTP 200, no JSON answer)', status: 200, code: 'unavailable',
  },
  {
    name: 'an HTML 404 page',
    answer: { status: 404, type: 'text/html', body: '<h1>Not Found</h1>' },
    message: 'Doing it: not available here (HTTP 404, no JSON answer)', status: 404, code: 'unavailable',
  },
  {
    name: 'broken JSON',
    answer: { status: 500, body: '{"error":' },
    message: 'Doing it: not available here (HTTP 500, no JSON answer)', status: 500, code: 'unavailable',
  },
];
for (const c of failures) {
  test(`requestJSON: ${c.name} becomes a readable ApiError`, TEST, async (t) => {
    const { base } = await serve(t, () => c.answer);
    const err = await requestJSON('GET', `${base}/x`, { what: 'Doing it' }).catch((e) => e);
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.message, c.message);
    assert.equal(err.status, c.status);
    assert.equal(err.code, c.code);
  });
}

test('requestJSON: a server that does not answer in time is a timeout', TEST, async (t) => {
  const { base } = await serve(t, () => ({ hang: true }));
  const err = await requestJSON('GET', `${base}/x`, { what: 'Waiting', timeoutMs: 100 }).catch((e) => e);
  assert.equal(err.code, 'timeout');
  assert.equal(err.message, 'Waiting: no answer within 0.1 s');
});

test('requestJSON: a server that cannot be reached is a network error', TEST, async (t) => {
  const { base } = await serve(t, () => ({ status: 200 }));
  const closed = base.replace(/:\d+$/, ':1');
  const err = await requestJSON('GET', `${closed}/x`, { what: 'Calling' }).catch((e) => e);
  assert.equal(err.code, 'network');
  assert.match(err.message, /^Calling: the server cannot be reached/);
});

test('requestJSON: 204 is null, and the token goes in the header, never in a message', TEST, async (t) => {
  const { base, requests } = await serve(t, (req) => (req.method === 'DELETE'
    ? { status: 204, type: null }
    : { status: 401, body: { error: { code: 'invalid_token', message: 'the token expired' } } }));
  assert.equal(await requestJSON('DELETE', `${base}/x`, { token: 'secret-token-1' }), null);
  const err = await requestJSON('GET', `${base}/x`, { token: 'secret-token-1' }).catch((e) => e);
  assert.equal(requests[0].headers.authorization, 'Bearer secret-token-1');
  assert.doesNotMatch(`${err.message} ${err.stack}`, /secret-token-1/);
});

test('RoomsApi: create sends the room, the token and an idempotency key', TEST, async (t) => {
  const created = { id: '1200000000000000009', name: 'Friday', user_limit: 4, position: 0 };
  const { base, requests } = await serve(t, () => ({ status: 201, body: created }));
  const api = new RoomsApi(() => 'tok', `${base}/api/rooms`);
  assert.deepEqual(await api.create({ name: 'Friday', user_limit: 4 }, 'key-1'), created);
  const [req] = requests;
  assert.equal(req.method, 'POST');
  assert.equal(req.url, '/api/rooms');
  assert.deepEqual(req.body, { name: 'Friday', user_limit: 4 });
  assert.equal(req.headers['idempotency-key'], 'key-1');
  assert.equal(req.headers['content-type'], 'application/json');
});

test('RoomsApi: remove deletes by id and names the room when it fails', TEST, async (t) => {
  const { base, requests } = await serve(t, () => ({ status: 404, body: { error: { code: 'not_found', message: 'no such room' } } }));
  const api = new RoomsApi(() => 'tok', `${base}/api/rooms`);
  const err = await api.remove('1200000000000000009', 'Friday').catch((e) => e);
  assert.equal(requests[0].method, 'DELETE');
  assert.equal(requests[0].url, '/api/rooms/1200000000000000009');
  assert.equal(err.message, 'Deleting the room "Friday": no such room');
});

test('IdentityProvider: a token comes with its expiry time', TEST, async (t) => {
  const user = { sub: 'bob', name: 'Bob', discord_id: '1300000000000000002', avatar_color: '#3d6cb9' };
  const { base, requests } = await serve(t, () => ({ status: 200, body: { token: 'jwt', expires_in: 600, user } }));
  const before = Date.now();
  const got = await new IdentityProvider(`${base}/dev-idp`).token('bob');
  assert.equal(requests[0].url, '/dev-idp/token?user=bob');
  assert.equal(got.token, 'jwt');
  assert.ok(got.expiresAt >= before + 600_000 && got.expiresAt <= Date.now() + 600_000);
  assert.deepEqual(got.user, user);
});

test('DiscordSimulator: the control API routes and bodies', TEST, async (t) => {
  const { base, requests } = await serve(t, () => ({ status: 204, type: null }));
  const sim = new DiscordSimulator(`${base}/dev-discord`);
  await sim.join('11', '13', '12');
  await sim.setFlags('11', '13', { self_mute: true });
  await sim.leave('11', '13');
  assert.deepEqual(requests.map((r) => [r.method, r.url, r.body]), [
    ['PUT', '/dev-discord/guilds/11/voice/13', { channel_id: '12' }],
    ['PATCH', '/dev-discord/guilds/11/voice/13', { self_mute: true }],
    ['DELETE', '/dev-discord/guilds/11/voice/13', ''],
  ]);
});
