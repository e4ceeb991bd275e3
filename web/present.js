// How the demo page words and draws things: names, avatars, voice badges, connection states and the
// sentences announced to screen readers when something changes. No DOM here, so Node tests it.

/** @typedef {import('./coven-projection.js').Member} Member */
/** @typedef {import('./coven-projection.js').CovenEvent} CovenEvent */

/** The name a member is shown by: their global name, else their username, else their id. */
export function displayName(m) {
  return m.global_name || m.username || m.user_id;
}

/** Up to two initials of a name: "Ada Lovelace" -> "AL", "bob" -> "B", "" -> "?". */
export function initials(name) {
  const words = String(name).trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return '?';
  const letters = words.length === 1 ? [words[0]] : [words[0], words[words.length - 1]];
  return letters.map((w) => String.fromCodePoint(w.codePointAt(0)).toUpperCase()).join('');
}

/**
 * A colour for an id's avatar, the same on every visit: a hue from the id, dark enough that white
 * initials on it keep a contrast above 4.5:1 (WCAG AA).
 */
export function avatarColor(id) {
  // FNV-1a: ids that differ in one digit, as consecutive snowflakes do, get unrelated hues.
  let h = 0x811c9dc5;
  for (const c of String(id)) h = Math.imul(h ^ c.codePointAt(0), 0x01000193) >>> 0;
  return `hsl(${h % 360} 55% 28%)`;
}

/**
 * The voice badges of a member, in a fixed order: [{flag, label}]. A moderator's mute or deafen shows
 * as such, since the member cannot undo it.
 * @param {Member} m
 */
export function memberBadges(m) {
  const out = [];
  if (m.mute) out.push({ flag: 'mute', label: 'muted by a moderator' });
  else if (m.self_mute) out.push({ flag: 'self_mute', label: 'muted' });
  if (m.deaf) out.push({ flag: 'deaf', label: 'deafened by a moderator' });
  else if (m.self_deaf) out.push({ flag: 'self_deaf', label: 'deafened' });
  if (m.self_video) out.push({ flag: 'self_video', label: 'camera on' });
  if (m.self_stream) out.push({ flag: 'self_stream', label: 'streaming' });
  return out;
}

/**
 * The note shown while the edge reports its event broker down ('' when there is nothing to say).
 * @param {'' | 'ok' | 'unavailable'} broker
 */
export function brokerText(broker) {
  return broker === 'unavailable'
    ? 'Live updates paused: the server lost its event store. The rooms shown stay valid; changes will follow, none missed.'
    : '';
}

/**
 * The connection indicator's text for a 'status' event detail of coven-client.js.
 * @param {{status: string, delayMs?: number, error?: {message: string} | null, reason?: string}} d
 */
export function statusText(d) {
  switch (d.status) {
    case 'idle': return 'Not connected';
    case 'connecting': return 'Connecting…';
    case 'connected': return 'Connected';
    case 'resumed': return 'Connected: resumed, nothing missed';
    case 'snapshot': return 'Connected: state reloaded from a snapshot';
    case 'closed': return 'Disconnected';
    case 'reconnecting': {
      const when = d.delayMs ? ` in ${Math.max(1, Math.round(d.delayMs / 1000))} s` : '';
      const why = d.error?.message ? ` (${d.error.message})` : '';
      return `Reconnecting${when}…${why}`;
    }
    default: return d.status;
  }
}

/**
 * A short sentence saying what an event changed, for the live region, or '' for nothing worth saying.
 * names resolves ids to names as they were before the event: {room(id), member(id)}.
 * @param {CovenEvent} ev
 * @param {{room: (id: string) => string | undefined, member: (id: string) => string | undefined}} names
 */
export function describeEvent(ev, names) {
  const d = ev.data ?? {};
  const roomName = (id) => names.room(id) ?? 'a room';
  switch (ev.type) {
    case 'room.created': return `Room ${d.room.name} was created.`;
    case 'room.updated': return `Room ${d.room.name} was updated.`;
    case 'room.deleted': return `Room ${roomName(d.room_id)} was deleted.`;
    case 'voice.joined': return `${displayName(d.member)} joined ${roomName(d.room_id)}.`;
    case 'voice.left': return `${names.member(d.user_id) ?? 'Someone'} left ${roomName(d.room_id)}.`;
    case 'voice.updated': {
      const badges = memberBadges(d.member).map((b) => b.label);
      return `${displayName(d.member)}: ${badges.length ? badges.join(', ') : 'microphone on, camera off'}.`;
    }
    case 'snapshot': return 'The rooms were reloaded.';
    case 'system.status': return `Discord link ${d.discord}.`;
    default: return '';
  }
}
