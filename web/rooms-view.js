// Draws the rooms and their members into the demo page. Text from the stream (room and user names)
// only ever goes in through textContent, never as HTML.

import { avatarColor, displayName, initials, memberBadges } from './present.js';

/** @typedef {import('./coven-projection.js').RoomState} RoomState */

/**
 * Creates an element with attributes and children (strings become text).
 * @param {string} tag
 * @param {Record<string, string | boolean | undefined>} [attrs] false and undefined are left out
 * @param {(Node | string | null)[]} children
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === undefined) continue;
    el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) {
    if (c !== null) el.append(c);
  }
  return el;
}

/**
 * Renders the rooms into list, replacing what it held, and keeps the keyboard focus on the same
 * control (by its data-focus-key) when it still exists.
 * @param {HTMLElement} list
 * @param {RoomState[]} rooms
 * @param {{me?: {discord_id: string}, onDelete: (room: RoomState) => void, onWatch?: (room: RoomState) => void}} options
 */
export function renderRooms(list, rooms, { me, onDelete, onWatch }) {
  const focused = document.activeElement instanceof HTMLElement && list.contains(document.activeElement)
    ? document.activeElement.dataset.focusKey : undefined;
  list.replaceChildren(...rooms.map((r) => roomItem(r, me, onDelete, onWatch)));
  if (focused) {
    const again = list.querySelector(`[data-focus-key="${CSS.escape(focused)}"]`);
    if (again instanceof HTMLElement) again.focus();
    else list.closest('section')?.querySelector('h2')?.focus(); // the room went away: keep focus nearby
  }
}

function roomItem(r, me, onDelete, onWatch) {
  const nameId = `room-${r.id}-name`;
  const count = r.user_limit > 0 ? `${r.members.length} / ${r.user_limit}` : `${r.members.length}`;
  const mine = me && r.owner_id && r.owner_id === me.discord_id;
  const del = h('button', {
    type: 'button', class: 'danger', 'data-testid': 'delete-room', 'data-focus-key': `delete-${r.id}`,
    'aria-label': `Delete room ${r.name}`,
  }, 'Delete');
  del.addEventListener('click', () => onDelete(r));
  let watch = null;
  if (onWatch) {
    watch = h('button', {
      type: 'button', class: 'secondary', 'data-testid': 'watch-room', 'data-focus-key': `watch-${r.id}`,
      'aria-label': `Watch the table of ${r.name}`,
    }, 'Watch table');
    watch.addEventListener('click', () => onWatch(r));
  }
  const members = r.members.length === 0
    ? h('p', { class: 'muted', 'data-testid': 'room-empty' }, 'Nobody here yet.')
    : h('ul', { class: 'members', 'aria-label': `Members of ${r.name}` }, ...r.members.map(memberItem));
  return h('li', { class: 'room', 'data-testid': 'room', 'data-room-id': r.id },
    h('article', { 'aria-labelledby': nameId },
      h('div', { class: 'room-head' },
        h('h3', { id: nameId, 'data-testid': 'room-name' }, r.name),
        mine ? h('span', { class: 'tag', 'data-testid': 'room-mine' }, 'yours') : null,
        h('span', { class: 'muted count', 'data-testid': 'room-count', title: 'players in the room' },
          h('span', { class: 'visually-hidden' }, 'Players: '), count),
        watch, del),
      members));
}

function memberItem(m) {
  const name = displayName(m);
  const badges = memberBadges(m);
  return h('li', { class: 'member', 'data-testid': 'member', 'data-user-id': m.user_id },
    h('span', { class: 'avatar', 'aria-hidden': 'true', style: `background-color: ${avatarColor(m.user_id)}` }, initials(name)),
    h('span', { class: 'member-name', 'data-testid': 'member-name' }, name),
    h('span', { class: 'badges' },
      ...badges.map((b) => h('span', { class: `badge badge-${b.flag}`, 'data-testid': 'badge', 'data-flag': b.flag }, b.label))));
}
