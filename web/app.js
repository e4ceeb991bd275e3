// The sandbox's demo page: sign in as a demo user, watch the rooms and their members live, create and
// delete rooms, and drive emulated Discord users. It is the reference use of coven-client.js.
// window.covenDebug exposes the client's state to browser tests and curious people.

import { CovenClient } from './coven-client.js';
import { DiscordSimulator, IdentityProvider, RoomsApi } from './api.js';
import { brokerText, describeEvent, statusText } from './present.js';
import { h, renderRooms } from './rooms-view.js';
import { SimulatePanel } from './simulate-panel.js';
import { publishBoard } from './coven-table.js';
import { showTable } from './table-view.js';

/** Errors kept on screen at once; older ones go. */
const MAX_ALERTS = 5;
/** Events kept for window.covenDebug. */
const DEBUG_EVENTS = 200;
/** More changes than this in one message are announced as a count, not one by one. */
const MAX_ANNOUNCED = 3;
/** Client error codes worth interrupting the person for; the others show in the connection indicator. */
const ALERTING_ERRORS = new Set(['token_provider', 'policy_violation', 'message_too_big', 'unauthorized', 'bad_frame']);
const SESSION_KEY = 'coven-sandbox-user';

const $ = (id) => /** @type {any} */ (document.getElementById(id));

const idp = new IdentityProvider();
const simulator = new DiscordSimulator();
/** @type {{user: import('./api.js').DemoUser, token: string, first: object | null} | null} */
let session = null;
/** @type {CovenClient | null} */
let client = null;
const rooms = new RoomsApi(() => session?.token ?? '');
const panel = new SimulatePanel($('simulate-heading').closest('section'), simulator, { report });
const names = { rooms: new Map(), members: new Map() };
const debug = { statuses: [], events: [], errors: [] };
/** The table being watched: its watcher and room. */
let table = null;
/** The board camera shared into the watched room: its publisher and camera stream. */
let board = null;

window.covenDebug = {
  /** The client's state: status, position, discord, rooms, lastError (null before sign-in). */
  get state() { return client?.state ?? null; },
  get client() { return client; },
  get user() { return session?.user ?? null; },
  /** The table view's watcher (null when no table is shown). */
  get table() { return table?.watcher ?? null; },
  /** The board camera's publisher (null when none is shared). */
  get board() { return board?.publisher ?? null; },
  statuses: debug.statuses,
  events: debug.events,
  errors: debug.errors,
};

// ---- errors and announcements ----

/** Shows an error to the person; every failure of an action ends here. */
function report(err) {
  const message = err instanceof Error ? err.message : String(err);
  debug.errors.push(message);
  const dismiss = h('button', { type: 'button', class: 'dismiss', 'aria-label': 'Dismiss this message' }, '×');
  const alert = h('div', { class: 'alert', 'data-testid': 'alert' }, h('p', {}, message), dismiss);
  dismiss.addEventListener('click', () => alert.remove());
  const box = $('alerts');
  box.append(alert);
  while (box.children.length > MAX_ALERTS) box.firstElementChild.remove();
}

function announce(text) {
  const region = $('announcer');
  region.textContent = '';
  // A fresh text node in a later frame makes screen readers announce even a repeated sentence.
  requestAnimationFrame(() => { region.textContent = text; });
}

// ---- signing in ----

async function loadUsers() {
  const select = $('user-select');
  try {
    const users = await idp.users();
    select.replaceChildren(...users.map((u) => new Option(`${u.name}${u.admin ? ' (admin)' : ''}`, u.sub)));
    select.disabled = false;
    $('sign-in-button').disabled = false;
    const again = sessionStorage.getItem(SESSION_KEY);
    if (again && users.some((u) => u.sub === again)) {
      select.value = again;
      await signIn(again);
    }
  } catch (err) {
    select.replaceChildren(new Option('No demo users', ''));
    report(err);
  }
}

async function signIn(sub) {
  $('sign-in-button').disabled = true;
  try {
    const first = await idp.token(sub);
    session = { user: first.user, token: first.token, first };
  } catch (err) {
    report(err);
    $('sign-in-button').disabled = false;
    return;
  }
  sessionStorage.setItem(SESSION_KEY, sub);
  $('sign-in').hidden = true;
  $('signed-in').hidden = false;
  $('signed-in-name').textContent = session.user.name;
  $('signed-in-admin').hidden = !session.user.admin;
  setCreateEnabled(true);
  startClient();
  void panel.load();
}

function signOut() {
  stopTable();
  client?.close();
  client = null;
  session = null;
  sessionStorage.removeItem(SESSION_KEY);
  $('sign-in').hidden = false;
  $('signed-in').hidden = true;
  $('sign-in-button').disabled = false;
  $('discord-link').hidden = true;
  setCreateEnabled(false);
  showStatus({ status: 'idle' });
  showBroker('');
  render();
}

function setCreateEnabled(on) {
  for (const el of $('create-room').elements) el.disabled = !on;
}

// ---- the stream ----

function startClient() {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  client = new CovenClient({
    url,
    tokenProvider: async (reason) => {
      if (!session) throw new Error('signed out');
      if (session.first && reason === 'connect') {
        const t = session.first;
        session.first = null;
        return t;
      }
      const t = await idp.token(session.user.sub);
      session.token = t.token;
      return t;
    },
  });
  const pending = [];
  client.addEventListener('status', (ev) => {
    debug.statuses.push(ev.detail.status);
    showStatus(ev.detail);
  });
  client.addEventListener('broker', (ev) => showBroker(ev.detail.broker));
  client.addEventListener('event', (ev) => {
    const e = ev.detail.event;
    debug.events.push(e);
    if (debug.events.length > DEBUG_EVENTS) debug.events.shift();
    const text = describeEvent(e, { room: (id) => names.rooms.get(id), member: (id) => names.members.get(id) });
    if (text) pending.push(text);
  });
  client.addEventListener('state', () => {
    if (pending.length > 0) announce(pending.length > MAX_ANNOUNCED ? `${pending.length} changes in the rooms.` : pending.join(' '));
    pending.length = 0;
    render();
  });
  client.addEventListener('error', (ev) => {
    if (ALERTING_ERRORS.has(ev.detail.code)) report(ev.detail.message);
  });
  client.start();
}

function showBroker(broker) {
  const note = $('broker-note');
  note.textContent = brokerText(broker);
  note.hidden = note.textContent === '';
  note.dataset.broker = broker;
}

function showStatus(detail) {
  const box = $('connection');
  box.dataset.status = detail.status;
  $('connection-text').textContent = statusText(detail);
  $('reconnect').hidden = detail.status !== 'reconnecting';
}

let renderQueued = false;

/** Draws the state at the next frame: a burst of messages costs one render. */
function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    const list = client?.rooms ?? [];
    names.rooms.clear();
    names.members.clear();
    for (const r of list) {
      names.rooms.set(r.id, r.name);
      for (const m of r.members) names.members.set(m.user_id, m.global_name || m.username);
    }
    renderRooms($('rooms'), list, { me: session?.user, onDelete: deleteRoom, onWatch: client ? watchTable : undefined, onTable: client ? switchTable : undefined });
    if (table && !list.some((r) => r.id === table.roomId && r.table_view)) stopTable();
    const empty = $('rooms-empty');
    // Rooms the client held before an edge restart stay shown, with the notice, until the worker's
    // snapshot arrives.
    empty.hidden = list.length > 0 && (!client || client.stateKnown);
    empty.textContent = !client ? 'Sign in to see the rooms.'
      : client.connected && client.stateKnown ? 'No rooms yet: create one.'
        : client.connected ? 'Waiting for Discord: the edge does not know the rooms yet…' : 'Loading the rooms…';
    const link = $('discord-link');
    link.hidden = !client?.discord;
    link.textContent = `Discord link: ${client?.discord ?? ''}`;
    link.dataset.discord = client?.discord ?? '';
    panel.update(list);
  });
}

// ---- rooms ----

async function createRoom(form) {
  const name = form.elements.name.value.trim();
  const limit = Number(form.elements.user_limit.value || 0);
  if (!name || name.length > 100) {
    report('A room name is 1 to 100 characters.');
    return;
  }
  if (!Number.isInteger(limit) || limit < 0 || limit > 99) {
    report('The user limit is a whole number from 0 to 99.');
    return;
  }
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    await rooms.create({ name, user_limit: limit });
    form.reset();
  } catch (err) {
    report(err);
  } finally {
    button.disabled = false;
  }
}

async function switchTable(room, on) {
  try {
    await rooms.setTable(room.id, on, room.name);
  } catch (err) {
    report(err);
  }
}

async function deleteRoom(room) {
  try {
    await rooms.remove(room.id, room.name);
  } catch (err) {
    report(err);
  }
}

// ---- table view ----

function watchTable(room) {
  stopTable();
  const section = $('table');
  section.hidden = false;
  $('table-room').textContent = room.name;
  const watcher = showTable(section, {
    client, roomId: room.id, selfId: session.user.discord_id,
    tokenProvider: () => session?.token ?? '',
  });
  table = { watcher, roomId: room.id };
  $('table-heading').focus();
}

const BOARD_TEXT = {
  connecting: 'Connecting your board camera…',
  live: 'Your board camera is shared with the table.',
  retrying: 'The relay is unreachable; trying again…',
  stopped: '',
};

/** Shares a camera pointed at the player's board into the watched room, or stops sharing it. */
async function toggleBoard() {
  if (board) {
    stopBoard();
    return;
  }
  if (!table) return;
  const roomId = table.roomId;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (err) {
    report(new Error(`The camera is not available: ${err?.message ?? err}`));
    return;
  }
  if (!table || table.roomId !== roomId) {
    for (const t of stream.getTracks()) t.stop();
    return;
  }
  const publisher = publishBoard(roomId, stream, { tokenProvider: () => session?.token ?? '' });
  board = { publisher, stream };
  publisher.addEventListener('state', (ev) => {
    const { state, reason } = ev.detail;
    $('board-status').textContent = state === 'refused' ? `Your board camera was refused: ${reason}` : BOARD_TEXT[state];
  });
  $('board-share').textContent = 'Stop sharing board camera';
  $('board-status').textContent = BOARD_TEXT.connecting;
}

function stopBoard() {
  if (!board) return;
  board.publisher.stop();
  for (const t of board.stream.getTracks()) t.stop();
  board = null;
  $('board-share').textContent = 'Share board camera';
  $('board-status').textContent = '';
}

function stopTable() {
  if (!table) return;
  stopBoard();
  table.watcher.stop();
  table = null;
  $('table').hidden = true;
}

// ---- wiring ----

$('sign-in').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const sub = $('user-select').value;
  if (sub) void signIn(sub);
});
$('sign-out').addEventListener('click', signOut);
$('table-stop').addEventListener('click', stopTable);
$('board-share').addEventListener('click', () => void toggleBoard());
$('reconnect').addEventListener('click', () => client?.reconnect());
$('create-room').addEventListener('submit', (ev) => {
  ev.preventDefault();
  void createRoom(ev.target);
});
setCreateEnabled(false);
$('reconnect').hidden = true;
render();
void loadUsers();
