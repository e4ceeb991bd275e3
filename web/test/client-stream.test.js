// The client's stream: authentication as the first message, the hello (snapshot or resume), events
// in order, several frames per message, and resuming after a lost connection.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { recordEvents, waitForEvent } from '../testsupport/fake-stream-server.js';
import { startClientAndServer as setup } from '../testsupport/harness.js';
import { event, member, resumedHello, room, snapshotHello } from '../testsupport/frames.js';

const R1 = '1200000000000000001';
const R2 = '1200000000000000002';
const U1 = '1300000000000000001';
const U2 = '1300000000000000002';
const TEST = { timeout: 10_000 };

const memberIds = (client) => client.rooms.map((r) => [r.id, r.members.map((m) => m.user_id)]);

test('the first message is auth with the token and no resume', TEST, async (t) => {
  const { server, client, tokens } = await setup(t);
  client.start();
  const { auth } = await server.nextAuth();
  assert.deepEqual(auth, { type: 'auth', token: 'token-1' });
  assert.deepEqual(tokens, ['connect']);
});

test('a snapshot hello loads the state and reports connected', TEST, async (t) => {
  const { server, client } = await setup(t);
  const seen = recordEvents(client, 'status', 'state');
  client.start();
  const { conn } = await server.nextAuth();
  const connected = waitForEvent(client, 'status', (d) => d.status === 'connected');
  conn.send(snapshotHello('e1', 7, [{ ...room(R1), members: [member(U1)] }]));
  await connected;
  assert.deepEqual(memberIds(client), [[R1, [U1]]]);
  assert.deepEqual(client.position, { epoch: 'e1', seq: 7 });
  assert.equal(client.connected, true);
  assert.deepEqual(seen.map((s) => s.detail.status ?? s.detail.cause), ['connecting', 'connected', 'snapshot']);
});

test('several frames in one message are split on newlines and applied in order', TEST, async (t) => {
  const { server, client } = await setup(t);
  const applied = recordEvents(client, 'event');
  const states = recordEvents(client, 'state');
  client.start();
  const { conn } = await server.nextAuth();
  const done = waitForEvent(client, 'state', (d) => d.events.length === 3);
  conn.send(
    snapshotHello('e1', 1, [{ ...room(R1), members: [] }]),
    event(2, 'voice.joined', { room_id: R1, member: member(U1) }),
    event(3, 'voice.joined', { room_id: R1, member: member(U2) }),
    event(4, 'voice.left', { room_id: R1, user_id: U1 }),
  );
  await done;
  assert.deepEqual(applied.map((a) => a.detail.event.seq), [2, 3, 4]);
  assert.deepEqual(memberIds(client), [[R1, [U2]]]);
  assert.deepEqual(client.position, { epoch: 'e1', seq: 4 });
  assert.equal(states.length, 1, 'one state event per message');
});

test('events already applied are not applied twice', TEST, async (t) => {
  const { server, client } = await setup(t);
  const applied = recordEvents(client, 'event');
  client.start();
  const { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 5, [{ ...room(R1), members: [] }]));
  const done = waitForEvent(client, 'event', (d) => d.event.seq === 6);
  conn.send(event(5, 'voice.joined', { room_id: R1, member: member(U2) }));
  conn.send(event(6, 'voice.joined', { room_id: R1, member: member(U1) }));
  await done;
  assert.deepEqual(applied.map((a) => a.detail.event.seq), [6]);
  assert.deepEqual(memberIds(client), [[R1, [U1]]]);
});

test('a lost connection resumes from the last event and replays the missed ones', TEST, async (t) => {
  const { server, client, tokens } = await setup(t);
  client.start();
  let { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 1, [{ ...room(R1), members: [] }]), event(2, 'voice.joined', { room_id: R1, member: member(U1) }));
  await waitForEvent(client, 'event', (d) => d.event.seq === 2);
  conn.ws.terminate();

  let auth;
  ({ conn, auth } = await server.nextAuth());
  assert.deepEqual(auth, { type: 'auth', token: 'token-1', resume: { epoch: 'e1', seq: 2 } });
  assert.deepEqual(tokens, ['connect'], 'a token still fresh is reused');
  const resumed = waitForEvent(client, 'status', (d) => d.status === 'resumed');
  const caughtUp = waitForEvent(client, 'event', (d) => d.event.seq === 3);
  conn.send(resumedHello('e1', 2), event(3, 'voice.joined', { room_id: R1, member: member(U2) }));
  await Promise.all([resumed, caughtUp]);
  assert.deepEqual(memberIds(client), [[R1, [U1, U2]]]);
  assert.deepEqual(client.position, { epoch: 'e1', seq: 3 });
});

test('when the server cannot resume, its snapshot replaces the state and the status says so', TEST, async (t) => {
  const { server, client } = await setup(t);
  client.start();
  let { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 10, [{ ...room(R1), members: [member(U1)] }]));
  await waitForEvent(client, 'status', (d) => d.status === 'connected');
  conn.ws.terminate();

  let auth;
  ({ conn, auth } = await server.nextAuth());
  assert.deepEqual(auth.resume, { epoch: 'e1', seq: 10 });
  const reloaded = waitForEvent(client, 'status', (d) => d.status === 'snapshot');
  const state = waitForEvent(client, 'state', (d) => d.cause === 'snapshot');
  // A new epoch: the worker's outbox was lost, and the edge started over.
  conn.send(snapshotHello('e2', 3, [{ ...room(R2), members: [member(U2)] }]));
  await Promise.all([reloaded, state]);
  assert.deepEqual(memberIds(client), [[R2, [U2]]]);
  assert.deepEqual(client.position, { epoch: 'e2', seq: 3 });
});

test('a snapshot event in the stream replaces the state', TEST, async (t) => {
  const { server, client } = await setup(t);
  client.start();
  const { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 1, [{ ...room(R1), members: [member(U1)] }]));
  const replaced = waitForEvent(client, 'state', (d) => d.cause === 'snapshot' && d.events.length === 1);
  conn.send(event(1, 'snapshot', { rooms: [{ ...room(R2), members: [] }] }, 'e2'));
  await replaced;
  assert.deepEqual(memberIds(client), [[R2, []]]);
  assert.deepEqual(client.position, { epoch: 'e2', seq: 1 });
});

test('an edge that holds no event yet gives no position to resume from', TEST, async (t) => {
  const { server, client } = await setup(t);
  client.start();
  let { conn } = await server.nextAuth();
  conn.send(snapshotHello('', 0, []));
  await waitForEvent(client, 'status', (d) => d.status === 'connected');
  assert.equal(client.position, null);
  conn.ws.terminate();
  const { auth } = await server.nextAuth();
  assert.equal(auth.resume, undefined);
});

test('a frame that is not JSON is reported, and the client reconnects and resumes', TEST, async (t) => {
  const { server, client } = await setup(t);
  client.start();
  const { conn } = await server.nextAuth();
  const error = waitForEvent(client, 'error', (d) => d.code === 'bad_frame');
  conn.send(snapshotHello('e1', 4, []), '{"v":1,"epoch":', event(5, 'room.created', { room: room(R1) }));
  await error;
  const { auth } = await server.nextAuth();
  assert.deepEqual(auth.resume, { epoch: 'e1', seq: 4 });
  assert.deepEqual(client.rooms, [], 'frames after a broken one are not applied');
});

test('the server pong and unknown frame types are ignored', TEST, async (t) => {
  const { server, client } = await setup(t);
  const applied = recordEvents(client, 'event');
  client.start();
  const { conn } = await server.nextAuth();
  const done = waitForEvent(client, 'event', (d) => d.event.seq === 2);
  conn.send(snapshotHello('e1', 1, []), { type: 'pong' }, { type: 'presence', who: 'x' },
    event(2, 'room.created', { room: room(R1) }));
  await done;
  assert.equal(applied.length, 1);
  assert.equal(client.status, 'connected');
});

test('close() stops the stream and every reconnection', TEST, async (t) => {
  const { server, client } = await setup(t);
  client.start();
  const { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 1, []));
  await waitForEvent(client, 'status', (d) => d.status === 'connected');
  client.close();
  const { code } = await conn.closed;
  assert.equal(code, 1000);
  assert.equal(client.status, 'closed');
  await assert.rejects(server.nextConnection(300), /no connection within/);
});

test('reconnect() drops the connection and resumes at once', TEST, async (t) => {
  const { server, client } = await setup(t, { initialBackoffMs: 60_000, maxBackoffMs: 60_000 });
  client.start();
  const { conn } = await server.nextAuth();
  conn.send(snapshotHello('e1', 9, []));
  await waitForEvent(client, 'status', (d) => d.status === 'connected');
  client.reconnect();
  const { auth } = await server.nextAuth();
  assert.deepEqual(auth.resume, { epoch: 'e1', seq: 9 });
});

test('status frames report the edge broker without touching position or state', TEST, async (t) => {
  const { server, client } = await setup(t);
  const brokers = recordEvents(client, 'broker');
  client.start();
  const { conn } = await server.nextAuth();
  const connected = waitForEvent(client, 'status', (d) => d.status === 'connected');
  conn.send(snapshotHello('e1', 3, [{ ...room(R1), members: [member(U1)] }]));
  await connected;
  assert.equal(client.broker, 'ok');
  const down = waitForEvent(client, 'broker', (d) => d.broker === 'unavailable');
  conn.send('{"type":"status","broker":"unavailable"}', '{"type":"status","broker":"sideways"}');
  await down;
  assert.equal(client.broker, 'unavailable');
  assert.equal(client.state.broker, 'unavailable');
  assert.deepEqual(client.position, { epoch: 'e1', seq: 3 }, 'a status frame is not a position');
  assert.deepEqual(memberIds(client), [[R1, [U1]]]);
  assert.equal(client.connected, true);
  const up = waitForEvent(client, 'broker', (d) => d.broker === 'ok');
  const applied = waitForEvent(client, 'state', (d) => d.events.length === 1);
  conn.send('{"type":"status","broker":"ok"}', event(4, 'voice.left', { room_id: R1, user_id: U1 }));
  await up;
  await applied;
  assert.deepEqual(client.position, { epoch: 'e1', seq: 4 });
  assert.deepEqual(brokers.map((b) => b.detail.broker), ['ok', 'unavailable', 'ok'], 'an unknown broker value is ignored');
});
