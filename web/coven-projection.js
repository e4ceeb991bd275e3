// The rooms and members that the event stream describes, applied from events exactly as the edge's
// hub applies them (hub/projection.go), so that a browser holds the same state as the edge after the
// same events. coven-client.js keeps one; tests and pages may use it on its own.

/**
 * A voice channel under the rooms category.
 * @typedef {object} Room
 * @property {string} id Discord snowflake.
 * @property {string} name
 * @property {number} user_limit 0 means no limit.
 * @property {number} position Discord's display order.
 * @property {string} [owner_id] Discord user id of the member who created the room through the API.
 * @property {boolean} [table_view] set while the room's owner has table view on
 */

/**
 * A user in a room's voice channel and the state of their microphone, camera and stream.
 * @typedef {object} Member
 * @property {string} user_id
 * @property {string} username
 * @property {string} global_name
 * @property {string} avatar
 * @property {boolean} self_mute
 * @property {boolean} self_deaf
 * @property {boolean} mute Muted by a moderator.
 * @property {boolean} deaf Deafened by a moderator.
 * @property {boolean} self_video
 * @property {boolean} self_stream
 * @property {boolean} [bot] set for bot accounts
 */

/**
 * A room with the members in it, in join order.
 * @typedef {Room & {members: Member[]}} RoomState
 */

/**
 * An event envelope of contract v1 (docs/protocol.md).
 * @typedef {object} CovenEvent
 * @property {number} v
 * @property {string} epoch
 * @property {number} seq
 * @property {string} type room.created, room.updated, room.deleted, voice.joined, voice.updated,
 *   voice.left, snapshot or system.status.
 * @property {string} ts RFC 3339.
 * @property {string} guild_id
 * @property {any} data The type's payload.
 */

/** The event types of contract v1. */
export const EVENT_TYPES = Object.freeze([
  'room.created', 'room.updated', 'room.deleted',
  'voice.joined', 'voice.updated', 'voice.left',
  'snapshot', 'system.status',
]);

/**
 * Projection holds rooms with their members and the worker's Discord link state. Events that do not
 * fit it (a member joining an unknown room, a room created twice) are applied as sensibly as possible,
 * as the hub does, and reported by apply's return value, never refused: the next snapshot corrects
 * whatever drifted.
 */
export class Projection {
  constructor() {
    /** @type {Map<string, {room: Room, members: Member[]}>} */
    this._rooms = new Map();
    /** user id -> id of the room the user is in; a user is in one room at most. */
    this._userIn = new Map();
    /** @type {string} "up", "reconnecting", "down" or "" before any system.status. */
    this.discord = '';
  }

  /**
   * Applies one event and returns a description of what did not fit, or '' when everything did.
   * Unknown event types change nothing.
   * @param {Pick<CovenEvent, 'type' | 'data'>} ev
   * @returns {string}
   */
  apply(ev) {
    const d = ev.data ?? {};
    switch (ev.type) {
      case 'room.created':
      case 'room.updated': {
        let rs = this._rooms.get(d.room.id);
        const known = rs !== undefined;
        if (!known) {
          rs = { room: d.room, members: [] };
          this._rooms.set(d.room.id, rs);
        }
        rs.room = { ...d.room };
        if (ev.type === 'room.created' && known) return 'room.created for a room already held; updated it';
        if (ev.type === 'room.updated' && !known) return 'room.updated for an unknown room; created it';
        return '';
      }
      case 'room.deleted': {
        const rs = this._rooms.get(d.room_id);
        if (!rs) return 'room.deleted for an unknown room; nothing to delete';
        for (const m of rs.members) this._userIn.delete(m.user_id);
        this._rooms.delete(d.room_id);
        return '';
      }
      case 'voice.joined':
      case 'voice.updated':
        return this._putMember(ev.type, d.room_id, d.member);
      case 'voice.left':
        if (this._userIn.get(d.user_id) !== d.room_id) {
          return 'voice.left for a member not in that room; nothing to remove';
        }
        this._removeMember(d.room_id, d.user_id);
        return '';
      case 'snapshot':
        this.replace(d);
        return '';
      case 'system.status':
        this.discord = d.discord;
        return '';
      default:
        return `unknown event type ${JSON.stringify(ev.type)}; ignored`;
    }
  }

  /**
   * Makes the projection hold exactly the rooms of a snapshot ({rooms: RoomState[]}), as a snapshot
   * event or a hello that could not resume carries. The Discord link state is kept: snapshots do not
   * carry it.
   * @param {{rooms: RoomState[]} | null | undefined} snapshot
   */
  replace(snapshot) {
    this._rooms.clear();
    this._userIn.clear();
    for (const rs of snapshot?.rooms ?? []) {
      const { members = [], ...room } = rs;
      this._rooms.set(room.id, { room, members: members.map((m) => ({ ...m })) });
      for (const m of members) this._userIn.set(m.user_id, room.id);
    }
  }

  /**
   * The rooms in Discord's display order (position, then id), each a fresh copy.
   * @returns {RoomState[]}
   */
  rooms() {
    const out = [];
    for (const rs of this._rooms.values()) {
      out.push({ ...rs.room, members: rs.members.map((m) => ({ ...m })) });
    }
    out.sort((a, b) => a.position - b.position || compareSnowflakes(a.id, b.id));
    return out;
  }

  /**
   * The room a user is in, or undefined.
   * @param {string} userId
   * @returns {string | undefined}
   */
  roomOf(userId) {
    return this._userIn.get(userId);
  }

  /** @private */
  _putMember(type, roomId, m) {
    let mismatch = '';
    const prev = this._userIn.get(m.user_id);
    if (prev !== undefined && prev !== roomId) {
      // Discord keeps a user in one voice channel at a time: joining another room is a move.
      this._removeMember(prev, m.user_id);
      mismatch = `${type} moved a member still listed in room ${prev}`;
    }
    const rs = this._rooms.get(roomId);
    if (!rs) return `${type} for an unknown room; member not listed`;
    this._userIn.set(m.user_id, roomId);
    const i = rs.members.findIndex((x) => x.user_id === m.user_id);
    if (i >= 0) {
      rs.members[i] = { ...m };
      if (type === 'voice.joined' && mismatch === '') {
        mismatch = 'voice.joined for a member already in the room; updated it';
      }
      return mismatch;
    }
    rs.members.push({ ...m });
    if (type === 'voice.updated' && mismatch === '') {
      mismatch = 'voice.updated for a member not in the room; added it';
    }
    return mismatch;
  }

  /** @private */
  _removeMember(roomId, userId) {
    this._userIn.delete(userId);
    const rs = this._rooms.get(roomId);
    if (!rs) return;
    const i = rs.members.findIndex((x) => x.user_id === userId);
    if (i >= 0) rs.members.splice(i, 1);
  }
}

/**
 * Orders decimal snowflakes numerically: a shorter id is a smaller number.
 * @param {string} a
 * @param {string} b
 * @returns {number}
 */
export function compareSnowflakes(a, b) {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
