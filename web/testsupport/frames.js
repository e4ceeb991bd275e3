// Builders of the stream's frames (docs/protocol.md) for the client library's tests, so that each test
// states only what matters to it.

export const GUILD = '1100000000000000001';

/** A room payload. */
export function room(id, name = `Room ${id}`, position = 0, extra = {}) {
  return { id, name, user_limit: 0, position, ...extra };
}

/** A member payload; flags overrides the all-false defaults. */
export function member(userId, username = `user${userId}`, flags = {}) {
  return {
    user_id: userId, username, global_name: username, avatar: '',
    self_mute: false, self_deaf: false, mute: false, deaf: false, self_video: false, self_stream: false,
    ...flags,
  };
}

/** An event envelope of contract v1. */
export function event(seq, type, data, epoch = 'e1') {
  return { v: 1, epoch, seq, type, ts: '2026-11-25T19:00:00.000Z', guild_id: GUILD, data };
}

/** The hello of a client that could not resume: the whole state at (epoch, seq). */
export function snapshotHello(epoch, seq, rooms = []) {
  return { type: 'hello', resumed: false, epoch, seq, snapshot: { rooms } };
}

/** The hello of a client that resumes after (epoch, seq). */
export function resumedHello(epoch, seq) {
  return { type: 'hello', resumed: true, epoch, seq };
}
