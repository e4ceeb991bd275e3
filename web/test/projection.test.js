// The projection applies events as the hub does (hub/projection.go): these cases are the hub's rules.
// web/conformance_test.go checks the same against the real hub on random event sequences.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Projection, compareSnowflakes } from '../coven-projection.js';
import { member, room } from '../testsupport/frames.js';

const R1 = '1200000000000000001';
const R2 = '1200000000000000002';
const U1 = '1300000000000000001';
const U2 = '1300000000000000002';

const snap = (...rooms) => ({ type: 'snapshot', data: { rooms } });
const ev = (type, data) => ({ type, data });
/** Rooms as [id, [member ids]] pairs: what most cases assert. */
const shape = (p) => p.rooms().map((r) => [r.id, r.members.map((m) => m.user_id)]);

const cases = [
  {
    name: 'a snapshot replaces everything held',
    events: [
      snap({ ...room(R1), members: [member(U1)] }),
      snap({ ...room(R2), members: [member(U2)] }),
    ],
    want: [[R2, [U2]]],
    mismatches: ['', ''],
  },
  {
    name: 'room.created adds an empty room',
    events: [snap(), ev('room.created', { room: room(R1) })],
    want: [[R1, []]],
    mismatches: ['', ''],
  },
  {
    name: 'room.created for a held room updates it and keeps its members',
    events: [
      snap({ ...room(R1, 'old'), members: [member(U1)] }),
      ev('room.created', { room: room(R1, 'new') }),
    ],
    want: [[R1, [U1]]],
    mismatches: ['', 'room.created for a room already held; updated it'],
  },
  {
    name: 'room.updated for an unknown room creates it',
    events: [snap(), ev('room.updated', { room: room(R1) })],
    want: [[R1, []]],
    mismatches: ['', 'room.updated for an unknown room; created it'],
  },
  {
    name: 'room.deleted removes the room and frees its members to join elsewhere',
    events: [
      snap({ ...room(R1), members: [member(U1)] }, { ...room(R2), members: [] }),
      ev('room.deleted', { room_id: R1 }),
      ev('voice.joined', { room_id: R2, member: member(U1) }),
    ],
    want: [[R2, [U1]]],
    mismatches: ['', '', ''],
  },
  {
    name: 'room.deleted for an unknown room changes nothing',
    events: [snap({ ...room(R1), members: [] }), ev('room.deleted', { room_id: R2 })],
    want: [[R1, []]],
    mismatches: ['', 'room.deleted for an unknown room; nothing to delete'],
  },
  {
    name: 'voice.joined appends members in join order',
    events: [
      snap({ ...room(R1), members: [] }),
      ev('voice.joined', { room_id: R1, member: member(U2) }),
      ev('voice.joined', { room_id: R1, member: member(U1) }),
    ],
    want: [[R1, [U2, U1]]],
    mismatches: ['', '', ''],
  },
  {
    name: 'voice.joined of a member in another room moves them',
    events: [
      snap({ ...room(R1), members: [member(U1)] }, { ...room(R2), members: [] }),
      ev('voice.joined', { room_id: R2, member: member(U1) }),
    ],
    want: [[R1, []], [R2, [U1]]],
    mismatches: ['', `voice.joined moved a member still listed in room ${R1}`],
  },
  {
    name: 'voice.joined for an unknown room removes the member from their old room and lists them nowhere',
    events: [
      snap({ ...room(R1), members: [member(U1)] }),
      ev('voice.joined', { room_id: R2, member: member(U1) }),
      ev('voice.left', { room_id: R2, user_id: U1 }),
    ],
    want: [[R1, []]],
    mismatches: ['', 'voice.joined for an unknown room; member not listed',
      'voice.left for a member not in that room; nothing to remove'],
  },
  {
    name: 'voice.joined twice updates the member in place',
    events: [
      snap({ ...room(R1), members: [member(U1), member(U2)] }),
      ev('voice.joined', { room_id: R1, member: member(U1, 'renamed') }),
    ],
    want: [[R1, [U1, U2]]],
    mismatches: ['', 'voice.joined for a member already in the room; updated it'],
  },
  {
    name: 'voice.updated changes flags in place',
    events: [
      snap({ ...room(R1), members: [member(U1), member(U2)] }),
      ev('voice.updated', { room_id: R1, member: member(U1, undefined, { self_mute: true }) }),
    ],
    want: [[R1, [U1, U2]]],
    mismatches: ['', ''],
  },
  {
    name: 'voice.updated for a member not listed adds them',
    events: [snap({ ...room(R1), members: [] }), ev('voice.updated', { room_id: R1, member: member(U1) })],
    want: [[R1, [U1]]],
    mismatches: ['', 'voice.updated for a member not in the room; added it'],
  },
  {
    name: 'voice.left removes the member',
    events: [
      snap({ ...room(R1), members: [member(U1), member(U2)] }),
      ev('voice.left', { room_id: R1, user_id: U1 }),
    ],
    want: [[R1, [U2]]],
    mismatches: ['', ''],
  },
  {
    name: 'voice.left naming another room than the member is in changes nothing',
    events: [
      snap({ ...room(R1), members: [member(U1)] }, { ...room(R2), members: [] }),
      ev('voice.left', { room_id: R2, user_id: U1 }),
    ],
    want: [[R1, [U1]], [R2, []]],
    mismatches: ['', 'voice.left for a member not in that room; nothing to remove'],
  },
  {
    name: 'rooms are listed by position, then by id as a number',
    events: [snap(
      { ...room('1200000000000000010', 'b', 1), members: [] },
      { ...room('999', 'c', 1), members: [] },
      { ...room(R1, 'a', 0), members: [] },
    )],
    want: [[R1, []], ['999', []], ['1200000000000000010', []]],
    mismatches: [''],
  },
  {
    name: 'an unknown event type changes nothing',
    events: [snap({ ...room(R1), members: [] }), ev('room.archived', { room_id: R1 })],
    want: [[R1, []]],
    mismatches: ['', 'unknown event type "room.archived"; ignored'],
  },
];

for (const c of cases) {
  test(`projection: ${c.name}`, () => {
    const p = new Projection();
    const mismatches = c.events.map((e) => p.apply(e));
    assert.deepEqual(shape(p), c.want);
    assert.deepEqual(mismatches, c.mismatches);
  });
}

test('projection: voice.updated carries the new flags', () => {
  const p = new Projection();
  p.apply(snap({ ...room(R1), members: [member(U1)] }));
  p.apply(ev('voice.updated', { room_id: R1, member: member(U1, 'u', { self_video: true, mute: true }) }));
  const [m] = p.rooms()[0].members;
  assert.equal(m.self_video, true);
  assert.equal(m.mute, true);
  assert.equal(m.self_mute, false);
});

test('projection: system.status sets the Discord link state, and a snapshot keeps it', () => {
  const p = new Projection();
  assert.equal(p.discord, '');
  p.apply(ev('system.status', { discord: 'reconnecting' }));
  p.apply(snap());
  assert.equal(p.discord, 'reconnecting');
});

test('projection: rooms() returns copies the caller cannot use to change the state', () => {
  const p = new Projection();
  p.apply(snap({ ...room(R1, 'kept'), members: [member(U1)] }));
  const rooms = p.rooms();
  rooms[0].name = 'changed';
  rooms[0].members[0].self_mute = true;
  rooms[0].members.pop();
  const again = p.rooms();
  assert.equal(again[0].name, 'kept');
  assert.equal(again[0].members.length, 1);
  assert.equal(again[0].members[0].self_mute, false);
});

test('projection: roomOf tells where a user is', () => {
  const p = new Projection();
  p.apply(snap({ ...room(R1), members: [member(U1)] }));
  assert.equal(p.roomOf(U1), R1);
  assert.equal(p.roomOf(U2), undefined);
});

const order = [
  { name: 'shorter is smaller', a: '99', b: '100', want: -1 },
  { name: 'same length compares digits', a: '120', b: '119', want: 1 },
  { name: 'equal', a: '5', b: '5', want: 0 },
];
for (const c of order) {
  test(`compareSnowflakes: ${c.name}`, () => {
    assert.equal(Math.sign(compareSnowflakes(c.a, c.b)), c.want);
  });
}
