// HTTP APIs the demo page calls: the sandbox's identity provider (/dev-idp/), the rooms API
// (/api/rooms) and the Discord emulator's control API as the sandbox proxies it (/dev-discord/). Every
// failure becomes an ApiError whose message a person can read, including an endpoint that is not there
// yet; no failure is swallowed. Tokens are sent, never put in a message.

/** Default bound on one request, so that a hung endpoint shows an error instead of a frozen button. */
export const DEFAULT_TIMEOUT_MS = 15_000;

/** A failed request: message says what failed and why, for the person using the page. */
export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {{status?: number, code?: string}} [info] status is 0 when no answer came; code is the
   *   API's error code, or "network", "timeout", "unavailable" (the endpoint is not there).
   */
  constructor(message, { status = 0, code = '' } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/**
 * Sends a JSON request and returns the decoded answer (null for 204).
 * @param {string} method
 * @param {string} url
 * @param {{token?: string, body?: unknown, headers?: Record<string, string>, what?: string,
 *   timeoutMs?: number, fetch?: typeof fetch}} [options] what names the action in error messages
 *   (default "METHOD url").
 */
export async function requestJSON(method, url, options = {}) {
  const { token, body, what = `${method} ${url}`, timeoutMs = DEFAULT_TIMEOUT_MS, fetch = globalThis.fetch } = options;
  const headers = { Accept: 'application/json', ...options.headers };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(url, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs), credentials: 'same-origin',
    });
  } catch (err) {
    if (err?.name === 'TimeoutError') {
      throw new ApiError(`${what}: no answer within ${timeoutMs / 1000} s`, { code: 'timeout' });
    }
    throw new ApiError(`${what}: the server cannot be reached (${err?.message ?? err})`, { code: 'network' });
  }
  if (resp.status === 204) return null;
  const type = resp.headers.get('Content-Type') ?? '';
  let decoded;
  if (type.includes('json')) {
    try {
      decoded = await resp.json();
    } catch {
      decoded = undefined;
    }
  }
  if (decoded === undefined) {
    // No JSON at all: nothing serves this path, or something in front of it answered for it.
    throw new ApiError(`${what}: not available here (HTTP ${resp.status}, no JSON answer)`, {
      status: resp.status, code: 'unavailable',
    });
  }
  if (!resp.ok) {
    const { code, message } = describeError(decoded);
    throw new ApiError(`${what}: ${message || `HTTP ${resp.status}`}`, { status: resp.status, code });
  }
  return decoded;
}

/**
 * Reads the error bodies of the APIs the page calls: {"error":{"code","message"}} (the edge, the rooms
 * API, the identity provider), {"error":"..."} (the emulator's control API) and {"code","message"}
 * (Discord's own errors, passed on by the emulator).
 * @returns {{code: string, message: string}}
 */
export function describeError(body) {
  if (body && typeof body === 'object') {
    const e = body.error;
    if (e && typeof e === 'object') return { code: String(e.code ?? ''), message: String(e.message ?? e.code ?? '') };
    if (typeof e === 'string') return { code: '', message: e };
    if (typeof body.message === 'string') return { code: String(body.code ?? ''), message: body.message };
  }
  return { code: '', message: '' };
}

/**
 * A demo user of the sandbox's identity provider.
 * @typedef {{sub: string, name: string, discord_id: string, admin?: boolean, avatar_color: string}} DemoUser
 */

/** The sandbox's development identity provider: demo users and their tokens, no password. */
export class IdentityProvider {
  /** @param {string} [base] URL prefix, default "/dev-idp". */
  constructor(base = '/dev-idp') {
    this.base = base;
  }

  /** @returns {Promise<DemoUser[]>} */
  users() {
    return requestJSON('GET', `${this.base}/users`, { what: 'Loading the demo users' });
  }

  /**
   * A fresh token for a demo user.
   * @param {string} sub
   * @returns {Promise<{token: string, expiresAt: number, user: DemoUser}>}
   */
  async token(sub) {
    const got = await requestJSON('POST', `${this.base}/token?user=${encodeURIComponent(sub)}`, { what: 'Signing in' });
    if (typeof got?.token !== 'string' || typeof got.expires_in !== 'number') {
      throw new ApiError('Signing in: the identity provider answered without a token', { code: 'unavailable' });
    }
    return { token: got.token, expiresAt: Date.now() + got.expires_in * 1000, user: got.user };
  }
}

/** The rooms API of the edge (docs/rooms.md), called with the signed-in user's token. */
export class RoomsApi {
  /**
   * @param {() => string} token returns the current token
   * @param {string} [base] URL prefix, default "/api/rooms".
   */
  constructor(token, base = '/api/rooms') {
    this.token = token;
    this.base = base;
  }

  /**
   * Creates a room. The Idempotency-Key makes a retried request return the same room.
   * @param {{name: string, user_limit?: number}} room
   */
  create(room, idempotencyKey = crypto.randomUUID()) {
    return requestJSON('POST', this.base, {
      token: this.token(), body: room, headers: { 'Idempotency-Key': idempotencyKey },
      what: `Creating the room "${room.name}"`,
    });
  }

  /** Deletes a room; name is for messages only. */
  remove(id, name = id) {
    return requestJSON('DELETE', `${this.base}/${encodeURIComponent(id)}`, {
      token: this.token(), what: `Deleting the room "${name}"`,
    });
  }

  /** Turns a room's table view on or off (its owner or an administrator); name is for messages only. */
  setTable(id, on, name = id) {
    return requestJSON(on ? 'PUT' : 'DELETE', `${this.base}/${encodeURIComponent(id)}/table`, {
      token: this.token(), what: `Turning ${on ? 'on' : 'off'} the table view of "${name}"`,
    });
  }
}

/**
 * The Discord emulator's control API (discordtest/control_http.go) behind the sandbox's /dev-discord/
 * proxy, which adds the control token: the page never holds it.
 */
export class DiscordSimulator {
  /** @param {string} [base] URL prefix, default "/dev-discord". */
  constructor(base = '/dev-discord') {
    this.base = base;
  }

  /** The emulator's world: {bot, guilds: [{id, channels, voice_states, members...}], users}. */
  state() {
    return requestJSON('GET', `${this.base}/state`, { what: 'Reading the Discord emulator' });
  }

  /** Adds an emulated Discord user. */
  addUser(username) {
    return requestJSON('POST', `${this.base}/users`, {
      body: { username, global_name: username }, what: `Adding the Discord user "${username}"`,
    });
  }

  /** Makes a user join a voice channel, or move there from another. */
  join(guildId, userId, channelId, what = 'Joining') {
    return requestJSON('PUT', this._voice(guildId, userId), { body: { channel_id: channelId }, what });
  }

  /** Makes a user leave voice. */
  leave(guildId, userId, what = 'Leaving') {
    return requestJSON('DELETE', this._voice(guildId, userId), { what });
  }

  /**
   * Changes a user's voice flags.
   * @param {{self_mute?: boolean, self_deaf?: boolean, mute?: boolean, deaf?: boolean,
   *   self_video?: boolean, self_stream?: boolean}} flags
   */
  setFlags(guildId, userId, flags, what = 'Changing the voice state') {
    return requestJSON('PATCH', this._voice(guildId, userId), { body: flags, what });
  }

  _voice(guildId, userId) {
    return `${this.base}/guilds/${encodeURIComponent(guildId)}/voice/${encodeURIComponent(userId)}`;
  }
}
