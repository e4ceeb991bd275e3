// The "Simulate Discord" panel: drives emulated Discord users (join, move, leave, mute, deafen, camera,
// stream) through the emulator's control API. It changes nothing on the page itself: what it does
// comes back through the event stream, like any change made in Discord.

import { ApiError } from './api.js';

/** @typedef {import('./coven-projection.js').RoomState} RoomState */
/** @typedef {import('./api.js').DiscordSimulator} DiscordSimulator */

const FLAG_NAMES = { self_mute: 'muted', self_deaf: 'deafened', self_video: 'camera on', self_stream: 'streaming' };

export class SimulatePanel {
  /**
   * @param {HTMLElement} root the panel's section
   * @param {DiscordSimulator} simulator
   * @param {{report: (err: unknown) => void}} page where errors go
   */
  constructor(root, simulator, { report }) {
    this.sim = simulator;
    this.report = report;
    this.q = (id) => /** @type {HTMLElement} */ (root.querySelector(`#${id}`));
    this.controls = /** @type {HTMLFieldSetElement} */ (this.q('simulate-controls'));
    this.userSelect = /** @type {HTMLSelectElement} */ (this.q('sim-user'));
    this.roomSelect = /** @type {HTMLSelectElement} */ (this.q('sim-room'));
    this.addForm = /** @type {HTMLFormElement} */ (this.q('sim-add-user'));
    /** @type {RoomState[]} */
    this.rooms = [];
    this.guildId = '';
    this.users = [];
    this.available = false;

    this.controls.addEventListener('click', (ev) => {
      const button = ev.target instanceof Element ? ev.target.closest('button[data-action]') : null;
      if (button instanceof HTMLButtonElement) void this._act(button);
    });
    this.userSelect.addEventListener('change', () => this._showWhere());
    this.q('simulate-retry').addEventListener('click', () => void this.load());
    this.addForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this._addUser();
    });
  }

  /** Reads the emulator's users and guild; says so in the panel when the control API is not there. */
  async load() {
    try {
      const state = await this.sim.state();
      const guild = state?.guilds?.[0];
      if (!guild) throw new ApiError('Reading the Discord emulator: it has no guild', { code: 'unavailable' });
      this.guildId = guild.id;
      this.users = (state.users ?? []).filter((u) => !u.bot);
      this._fillUsers();
      this._unavailable('');
    } catch (err) {
      this._unavailable(`${err instanceof Error ? err.message : err}. This panel needs the Discord emulator's `
        + 'control API, which the sandbox serves at /dev-discord/.');
    }
  }

  /** Follows the rooms and members of the stream. @param {RoomState[]} rooms */
  update(rooms) {
    this.rooms = rooms;
    const keep = this.roomSelect.value;
    this.roomSelect.replaceChildren(...rooms.map((r) => new Option(r.name, r.id)));
    if (rooms.some((r) => r.id === keep)) this.roomSelect.value = keep;
    this._showWhere();
  }

  _unavailable(message) {
    this.available = message === '';
    const notice = this.q('simulate-unavailable');
    notice.textContent = message;
    notice.hidden = this.available;
    this.q('simulate-retry').hidden = this.available;
    this.controls.disabled = !this.available;
    for (const el of this.addForm.elements) /** @type {HTMLInputElement} */ (el).disabled = message !== '';
  }

  _fillUsers(select) {
    const keep = select ?? this.userSelect.value;
    this.userSelect.replaceChildren(...this.users.map((u) => new Option(u.global_name || u.username, u.id)));
    if (this.users.some((u) => u.id === keep)) this.userSelect.value = keep;
    this._showWhere();
  }

  /** The selected user's room and voice state, from the stream. */
  _where() {
    const userId = this.userSelect.value;
    for (const r of this.rooms) {
      const m = r.members.find((x) => x.user_id === userId);
      if (m) return { room: r, member: m };
    }
    return { room: undefined, member: undefined };
  }

  _showWhere() {
    const { room, member } = this._where();
    const name = this.userSelect.selectedOptions[0]?.text ?? '';
    this.q('sim-where').textContent = !this.available ? ''
      : !name ? 'No emulated user yet: add one below.'
      : room ? `${name} is in ${room.name}.` : `${name} is not in a voice channel.`;
    for (const b of this.controls.querySelectorAll('button[data-action]')) {
      const action = /** @type {HTMLButtonElement} */ (b).dataset.action;
      /** @type {HTMLButtonElement} */ (b).disabled = !name || (action === 'join' ? this.rooms.length === 0 : !member);
      if (action === 'flag') b.setAttribute('aria-pressed', String(Boolean(member?.[b.dataset.flag])));
    }
  }

  /** @param {HTMLButtonElement} button */
  async _act(button) {
    const userId = this.userSelect.value;
    const name = this.userSelect.selectedOptions[0]?.text ?? userId;
    const { member } = this._where();
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      switch (button.dataset.action) {
        case 'join': {
          const room = this.roomSelect.selectedOptions[0];
          await this.sim.join(this.guildId, userId, room.value, `Moving ${name} to ${room.text}`);
          break;
        }
        case 'leave':
          await this.sim.leave(this.guildId, userId, `Making ${name} leave`);
          break;
        case 'flag': {
          const flag = button.dataset.flag;
          const on = !member?.[flag];
          await this.sim.setFlags(this.guildId, userId, { [flag]: on },
            `Setting ${name} ${on ? '' : 'not '}${FLAG_NAMES[flag]}`);
          break;
        }
        default:
          break;
      }
    } catch (err) {
      this.report(err);
    } finally {
      button.removeAttribute('aria-busy');
      this._showWhere();
    }
  }

  async _addUser() {
    const input = /** @type {HTMLInputElement} */ (this.q('sim-new-user'));
    const username = input.value.trim();
    if (!username) return;
    try {
      const user = await this.sim.addUser(username);
      this.users.push(user);
      this._fillUsers(user.id);
      input.value = '';
    } catch (err) {
      this.report(err);
    }
  }
}
