// The demo page's table view: a tile per member of the room being watched, with their camera
// and voice played live (coven-table.js), their name and microphone state, and what stands in the
// way when a camera cannot be shown. Names only ever go in through textContent.

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
  const refresh = (id) => {
    const t = tiles.get(id);
    const m = member(id);
    if (!t || !m) return;
    t.name.textContent = displayName(m);
    t.mic.textContent = m.self_mute || m.mute ? 'muted' : 'microphone on';
    t.el.dataset.camera = m.self_video ? 'on' : 'off';
    const state = w.state(id) ?? 'connecting';
    t.el.dataset.state = state;
    t.note.textContent = STATE_TEXT[state] || (m.self_video ? '' : 'Camera off');
    t.note.hidden = t.note.textContent === '';
  };
  const tile = (userId) => {
    let t = tiles.get(userId);
    if (t) return t;
    const video = h('video', { autoplay: true, playsinline: true, 'data-testid': 'table-video' });
    const name = h('span', { class: 'member-name', 'data-testid': 'table-name' });
    const mic = h('span', { class: 'muted small', 'data-testid': 'table-mic' });
    const note = h('p', { class: 'notice small', 'data-testid': 'table-note' });
    const el = h('li', { class: 'tile', 'data-testid': 'table-tile', 'data-user-id': userId }, video, h('div', { class: 'tile-head' }, name, mic), note);
    t = { el, name, mic, note, video };
    tiles.set(userId, t);
    grid.append(el);
    return t;
  };
  w.addEventListener('add', (ev) => {
    const t = tile(ev.detail.userId);
    t.video.srcObject = ev.detail.stream;
    refresh(ev.detail.userId);
    // The watch button's click lets the page play sound.
    void t.video.play().catch(() => {});
  });
  w.addEventListener('remove', (ev) => {
    tiles.get(ev.detail.userId)?.el.remove();
    tiles.delete(ev.detail.userId);
  });
  w.addEventListener('member', (ev) => {
    tile(ev.detail.userId);
    refresh(ev.detail.userId);
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
