// How the page words and draws things.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { avatarColor, brokerText, describeEvent, displayName, initials, memberBadges, statusText } from '../present.js';
import { event, member, room } from '../testsupport/frames.js';

const initialsCases = [
  { name: 'two words', in: 'Ada Lovelace', want: 'AL' },
  { name: 'three words take the first and last', in: 'Mary Ann Evans', want: 'ME' },
  { name: 'one word', in: 'bob', want: 'B' },
  { name: 'extra white space', in: '  carol   king ', want: 'CK' },
  { name: 'a letter outside the BMP stays whole', in: '𝒜lice', want: '𝒜' },
  { name: 'nothing', in: '', want: '?' },
];
for (const c of initialsCases) {
  test(`initials: ${c.name}`, () => assert.equal(initials(c.in), c.want));
}

const nameCases = [
  { name: 'the global name first', m: { user_id: '1', username: 'bob', global_name: 'Bob B' }, want: 'Bob B' },
  { name: 'else the username', m: { user_id: '1', username: 'bob', global_name: '' }, want: 'bob' },
  { name: 'else the id', m: { user_id: '1', username: '', global_name: '' }, want: '1' },
];
for (const c of nameCases) {
  test(`displayName: ${c.name}`, () => assert.equal(displayName(c.m), c.want));
}

/** WCAG contrast of white on an "hsl(h s% l%)" colour. */
function contrastWithWhite(hsl) {
  const [h, s, l] = hsl.match(/[\d.]+/g).map(Number);
  const sat = s / 100;
  const light = l / 100;
  const f = (n) => {
    const k = (n + h / 30) % 12;
    return light - sat * Math.min(light, 1 - light) * Math.max(-1, Math.min(k - 3, 9 - k, 1));
  };
  const lin = (c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  const lum = 0.2126 * lin(f(0)) + 0.7152 * lin(f(8)) + 0.0722 * lin(f(4));
  return 1.05 / (lum + 0.05);
}

test('avatarColor: the same id always gets the same colour', () => {
  assert.equal(avatarColor('1300000000000000001'), avatarColor('1300000000000000001'));
});

test('avatarColor: ids that differ in their last digit get clearly different hues', () => {
  const hue = (id) => Number(avatarColor(id).match(/^hsl\((\d+) /)[1]);
  let total = 0;
  for (let d = 1; d < 9; d++) {
    const a = hue(`130000000000000000${d}`);
    const b = hue(`130000000000000000${d + 1}`);
    total += Math.min(Math.abs(a - b), 360 - Math.abs(a - b));
  }
  assert.ok(total / 8 >= 40, `neighbouring ids are ${total / 8} degrees apart on average`);
});

test('avatarColor: white initials keep a 4.5:1 contrast on every colour', () => {
  for (let i = 0; i < 2000; i++) {
    const c = avatarColor(String(1300000000000000000n + BigInt(i)));
    assert.ok(contrastWithWhite(c) >= 4.5, `${c}: ${contrastWithWhite(c).toFixed(2)}`);
  }
});

const badgeCases = [
  { name: 'nothing on', flags: {}, want: [] },
  { name: 'self mute and camera', flags: { self_mute: true, self_video: true }, want: ['self_mute', 'self_video'] },
  { name: "a moderator's mute wins over self mute", flags: { self_mute: true, mute: true }, want: ['mute'] },
  { name: 'deafened and streaming', flags: { self_deaf: true, self_stream: true }, want: ['self_deaf', 'self_stream'] },
  { name: "a moderator's deafen", flags: { deaf: true }, want: ['deaf'] },
];
for (const c of badgeCases) {
  test(`memberBadges: ${c.name}`, () => {
    assert.deepEqual(memberBadges(member('1', 'x', c.flags)).map((b) => b.flag), c.want);
  });
}

const statusCases = [
  { name: 'connected', d: { status: 'connected' }, want: 'Connected' },
  { name: 'resumed', d: { status: 'resumed' }, want: 'Connected: resumed, nothing missed' },
  { name: 'snapshot', d: { status: 'snapshot' }, want: 'Connected: state reloaded from a snapshot' },
  { name: 'reconnecting with a delay and a reason', d: { status: 'reconnecting', delayMs: 2400, error: { message: 'the token expired' } }, want: 'Reconnecting in 2 s… (the token expired)' },
  { name: 'reconnecting at once', d: { status: 'reconnecting', delayMs: 0 }, want: 'Reconnecting…' },
  { name: 'a short delay says 1 s', d: { status: 'reconnecting', delayMs: 120 }, want: 'Reconnecting in 1 s…' },
];
for (const c of statusCases) {
  test(`statusText: ${c.name}`, () => assert.equal(statusText(c.d), c.want));
}

test('brokerText says something only while the broker is unavailable', () => {
  assert.equal(brokerText(''), '');
  assert.equal(brokerText('ok'), '');
  assert.match(brokerText('unavailable'), /^Live updates paused: .*none missed\.$/);
});

const R = '1200000000000000001';
const names = { room: (id) => (id === R ? 'Friday' : undefined), member: (id) => (id === '7' ? 'Bob' : undefined) };
const describeCases = [
  { name: 'room created', ev: event(1, 'room.created', { room: room(R, 'Friday') }), want: 'Room Friday was created.' },
  { name: 'room deleted, by its old name', ev: event(1, 'room.deleted', { room_id: R }), want: 'Room Friday was deleted.' },
  { name: 'someone joins', ev: event(1, 'voice.joined', { room_id: R, member: member('7', 'Bob') }), want: 'Bob joined Friday.' },
  { name: 'someone leaves, by their old name', ev: event(1, 'voice.left', { room_id: R, user_id: '7' }), want: 'Bob left Friday.' },
  { name: 'someone unknown leaves an unknown room', ev: event(1, 'voice.left', { room_id: '9', user_id: '8' }), want: 'Someone left a room.' },
  { name: 'flags change', ev: event(1, 'voice.updated', { room_id: R, member: member('7', 'Bob', { self_mute: true, self_video: true }) }), want: 'Bob: muted, camera on.' },
  { name: 'flags cleared', ev: event(1, 'voice.updated', { room_id: R, member: member('7', 'Bob') }), want: 'Bob: microphone on, camera off.' },
  { name: 'Discord link', ev: event(1, 'system.status', { discord: 'down' }), want: 'Discord link down.' },
  { name: 'an unknown type says nothing', ev: event(1, 'room.archived', {}), want: '' },
];
for (const c of describeCases) {
  test(`describeEvent: ${c.name}`, () => assert.equal(describeEvent(c.ev, names), c.want));
}
