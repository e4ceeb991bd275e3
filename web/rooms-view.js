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
 * @param {{me?: {discord_id: string, admin?: boolean}, onDelete: (room: RoomState) => void,
 *   onWatch?: (room: RoomState) => void, onTable?: (room: RoomState, on: boolean) => void}} options
 */
export function renderRooms(list, rooms, { me, onDelete, onWatch, onTable }) {
  const focused = document.activeElement instanceof HTMLElement && list.contains(document.activeElement)
    ? document.activeElement.dataset.focusKey : undefined;
  list.replaceChildren(...rooms.map((r) => roomItem(r, me, onDelete, onWatch, onTable)));
  if (focused) {
    const again = list.querySelector(`[data-focus-key="${CSS.escape(focused)}"]`);
    if (again instanceof HTMLElement) again.focus();
    else list.closest('section')?.querySelector('h2')?.focus(); // the room went away: keep focus nearby
  }
}

function roomItem(r, me, onDelete, onWatch, onTable) {
  const nameId = `room-${r.id}-name`;
  const count = r.user_limit > 0 ? `${r.members.length} / ${r.user_limit}` : `${r.members.length}`;
  const mine = me && r.owner_id && r.owner_id === me.discord_id;
  const del = h('button', {
    type: 'button', class: 'danger', 'data-testid': 'delete-room', 'data-focus-key': `delete-${r.id}`,
    'aria-label': `Delete room ${r.name}`,
  }, 'Delete');
  del.addEventListener('click', () => onDelete(r));
  let watch = null;
  if (onWatch && r.table_view) {
    watch = h('button', {
      type: 'button', class: 'secondary', 'data-testid': 'watch-room', 'data-focus-key': `watch-${r.id}`,
      'aria-label': `Watch the table of ${r.name}`,
    }, 'Watch table');
    watch.addEventListener('click', () => onWatch(r));
  }
  // The owner (or an administrator) turns the table view on and off.
  let table = null;
  if (onTable && (mine || me?.admin)) {
    table = h('button', {
      type: 'button', class: 'secondary', 'data-testid': 'table-switch', 'data-focus-key': `table-${r.id}`,
      'aria-pressed': r.table_view ? 'true' : 'false',
      'aria-label': `Table view of ${r.name}: ${r.table_view ? 'on' : 'off'}`,
    }, r.table_view ? 'Table view on' : 'Table view off');
    table.addEventListener('click', () => onTable(r, !r.table_view));
  }
  const members = r.members.length === 0
    ? h('p', { class: 'muted', 'data-testid': 'room-empty' }, 'Nobody here yet.')
    : h('ul', { class: 'members', 'aria-label': `Members of ${r.name}` }, ...r.members.map(memberItem));
  return h('li', { class: 'room', 'data-testid': 'room', 'data-room-id': r.id },
    h('article', { 'aria-labelledby': nameId },
      h('div', { class: 'room-head' },
        h('h3', { id: nameId, 'data-testid': 'room-name' }, r.name),
        mine ? h('span', { class: 'tag', 'data-testid': 'room-mine' }, 'yours') : null,
        r.table_view ? h('span', { class: 'tag', 'data-testid': 'room-table', title: 'members can watch each other\'s cameras here' }, 'table view') : null,
        h('span', { class: 'muted count', 'data-testid': 'room-count', title: 'players in the room' },
          h('span', { class: 'visually-hidden' }, 'Players: '), count),
        table, watch, del),
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
