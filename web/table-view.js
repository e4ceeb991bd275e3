// The demo page's table view: a tile per member of the room being watched, with their camera
// and voice played live (coven-table.js), their name and microphone state, and what stands in the
// way when a camera cannot be shown; and a tile per board camera a member publishes from their
// page. Names only ever go in through textContent.

import { TableWatcher } from './coven-table.js';
import { displayName } from './present.js';
import { h } from './rooms-view.js';

const STATE_TEXT = {
  connecting: 'Connecting…',
  live: '',
  'camera-unavailable': 'Camera not available to the table: Discord did not forward it to the relay (bots may not receive video). Their voice still plays.',
  retrying: 'The relay is unreachable; trying again…',
  refused: 'You may not watch this room.',
};

const BOARD_STATE_TEXT = { ...STATE_TEXT, 'camera-unavailable': 'No picture from this board camera yet.' };

/**
 * Shows a room's table in section: returns the watcher (stop it to close the table).
 * @param {HTMLElement} section
 * @param {{client: any, roomId: string, selfId: string, tokenProvider: () => Promise<string> | string}} o
 */
export function showTable(section, o) {
  const grid = section.querySelector('[data-testid="table-tiles"]');
  grid.replaceChildren();
  const tiles = new Map();
  const w = new TableWatcher(o.roomId, { client: o.client, tokenProvider: o.tokenProvider, selfId: o.selfId });
  const member = (id) => o.client.rooms.find((r) => r.id === o.roomId)?.members.find((m) => m.user_id === id);
  const refresh = (key) => {
    const t = tiles.get(key);
    const m = t && member(t.userId);
    if (!t || !m) return;
    if (t.kind === 'board') {
      t.name.textContent = `${displayName(m)}: board`;
      t.mic.textContent = 'board camera';
      const state = w.state(key) ?? 'connecting';
      t.el.dataset.state = state;
      t.note.textContent = BOARD_STATE_TEXT[state];
      t.note.hidden = t.note.textContent === '';
      return;
    }
    t.name.textContent = displayName(m);
    t.mic.textContent = m.self_mute || m.mute ? 'muted' : 'microphone on';
    t.el.dataset.camera = m.self_video ? 'on' : 'off';
    const state = w.state(key) ?? 'connecting';
    t.el.dataset.state = state;
    t.note.textContent = STATE_TEXT[state] || (m.self_video ? '' : 'Camera off');
    t.note.hidden = t.note.textContent === '';
  };
  const tile = ({ userId, kind = 'camera', key = userId }) => {
    let t = tiles.get(key);
    if (t) return t;
    const video = h('video', { autoplay: true, playsinline: true, 'data-testid': 'table-video' });
    const name = h('span', { class: 'member-name', 'data-testid': 'table-name' });
    const mic = h('span', { class: 'muted small', 'data-testid': 'table-mic' });
    const note = h('p', { class: 'notice small', 'data-testid': 'table-note' });
    const el = h('li', { class: 'tile', 'data-testid': 'table-tile', 'data-user-id': userId, 'data-kind': kind }, video, h('div', { class: 'tile-head' }, name, mic), note);
    t = { el, name, mic, note, video, userId, kind };
    tiles.set(key, t);
    grid.append(el);
    return t;
  };
  w.addEventListener('add', (ev) => {
    const t = tile(ev.detail);
    t.video.srcObject = ev.detail.stream;
    refresh(ev.detail.key);
    // The watch button's click lets the page play sound.
    void t.video.play().catch(() => {});
  });
  w.addEventListener('remove', (ev) => {
    tiles.get(ev.detail.key)?.el.remove();
    tiles.delete(ev.detail.key);
  });
  w.addEventListener('member', (ev) => {
    tile(ev.detail);
    refresh(ev.detail.key);
  });
  const onState = () => { for (const id of tiles.keys()) refresh(id); };
  o.client.addEventListener('state', onState);
  const stop = w.stop.bind(w);
  w.stop = () => {
    o.client.removeEventListener('state', onState);
    stop();
    grid.replaceChildren();
  };
  w.start();
  return w;
}
