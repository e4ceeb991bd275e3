// Browser client of the Spell Coven event stream (docs/protocol.md, "Event stream"). It connects to
// the edge's /ws, authenticates with the first message, keeps the token fresh on the open socket,
// reconnects with backoff and resumes from the last event it received, and keeps the current rooms
// and members applied exactly as the edge's hub applies them. The demo page (app.js) uses it; any web
// app can: it is one ES module with no dependencies beyond coven-projection.js.

import { Projection } from './coven-projection.js';

export { Projection, EVENT_TYPES, compareSnowflakes } from './coven-projection.js';

/** @typedef {import('./coven-projection.js').RoomState} RoomState */
/** @typedef {import('./coven-projection.js').CovenEvent} CovenEvent */

/**
 * A token from the token provider. expiresAt (milliseconds since the epoch, or a Date) lets the
 * client refresh it before it expires; without it the client reads the JWT's exp claim, and only when
 * the token carries none does it wait for the server to end the stream with 4003.
 * @typedef {{token: string, expiresAt?: number | Date}} Token
 */

/**
 * Why the client asks for a token: "connect" (first connection), "reconnect", "refresh" (the current
 * one expires soon), "unauthorized" (the server refused it: 4001) or "expired" (4003). A provider may
 * answer "connect" and "reconnect" from a cache; for the others it must fetch a new token.
 * @typedef {'connect' | 'reconnect' | 'refresh' | 'unauthorized' | 'expired'} TokenReason
 */

/**
 * Where the client stands with the edge, carried by 'status' events:
 * - "idle": not started;
 * - "connecting": the first connection is being made;
 * - "connected": the first connection is up, its state loaded from the server's snapshot;
 * - "reconnecting": the connection was lost; a new one is scheduled or being made;
 * - "resumed": reconnected, and every event missed meanwhile was replayed;
 * - "snapshot": reconnected, but the server no longer held every missed event, so the state was
 *   replaced by its snapshot;
 * - "closed": close() was called.
 * @typedef {'idle' | 'connecting' | 'connected' | 'reconnecting' | 'resumed' | 'snapshot' | 'closed'} Status
 */

/** Close codes of the stream (docs/protocol.md, "Errors and close codes"). */
export const CloseCode = Object.freeze({
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  RESTARTING: 1012,
  TRY_AGAIN_LATER: 1013,
  UNAUTHORIZED: 4001,
  NO_AUTH: 4002,
  TOKEN_EXPIRED: 4003,
  TOO_MANY_STREAMS: 4005,
  TOO_SLOW: 4008,
  RATE_LIMITED: 4029,
});

/**
 * Tunables of CovenClient, all in milliseconds except backoffFactor and jitter. Every one has this
 * default; the constructor checks what it is given.
 */
export const DEFAULT_OPTIONS = Object.freeze({
  /** First reconnection delay; it grows by backoffFactor per failed attempt up to maxBackoffMs. */
  initialBackoffMs: 500,
  maxBackoffMs: 30_000,
  backoffFactor: 2,
  /** Fraction (0-1) of each delay drawn at random, so that clients cut off together do not return together. */
  jitter: 0.5,
  /** Least delay after 1008 or 1009: the server refused what this client sent, so retrying fast cannot help. */
  policyRetryMs: 60_000,
  /** Least delay after 4005 or 4029: the server refused this client for one of its limits. */
  limitRetryMs: 15_000,
  /** A connection that lived this long after its hello counts as healthy: the backoff starts over. */
  stableAfterMs: 10_000,
  /** Refresh a token this long before it expires (at most half its lifetime). */
  refreshMarginMs: 60_000,
  /** Least delay between token refreshes, so that a provider handing out expired tokens cannot make a loop. */
  minRefreshDelayMs: 1_000,
  /** From opening the socket to the server's hello; past it the attempt is abandoned. */
  handshakeTimeoutMs: 10_000,
  /** Send {"type":"ping"} this often once connected (0: never), to notice a dead connection. */
  pingIntervalMs: 30_000,
  /** Abandon the connection when nothing arrives this long after a ping. */
  pongTimeoutMs: 10_000,
});

/**
 * @typedef {Partial<typeof DEFAULT_OPTIONS> & {
 *   url: string,
 *   tokenProvider: (reason: TokenReason) => Promise<Token> | Token,
 *   WebSocket?: typeof WebSocket,
 *   random?: () => number,
 *   network?: EventTarget | null,
 * }} ClientOptions
 * url is the stream's ws: or wss: URL; WebSocket defaults to the global one (tests pass another);
 * random defaults to Math.random and draws the jitter; network is where the browser's 'online' and
 * 'offline' events are heard (default: the global window, when there is one; null: nowhere).
 */

/**
 * CovenClient keeps a live copy of the rooms and their members. It is an EventTarget dispatching
 * CustomEvents:
 * - 'status': detail {status, code?, reason?, error?, delayMs?, attempt?} when the connection changes;
 * - 'event': detail {event, mismatch} for every stream event applied, in order (mismatch is '' or says
 *   what did not fit the state, as the hub logs it);
 * - 'state': detail {cause: 'snapshot' | 'events', events} after the state changed, once per message;
 * - 'broker': detail {broker: 'ok' | 'unavailable'} when the edge reports losing or regaining its
 *   event broker (Redis): while unavailable the stream stays open and the state stays valid, but no
 *   events arrive; they resume in order, none missing, after 'ok';
 * - 'error': detail {code, message, closeCode?} for server error frames, refused messages and token
 *   provider failures. Error details never contain the token.
 */
export class CovenClient extends EventTarget {
  /** @param {ClientOptions} options */
  constructor(options) {
    super();
    this._opts = checkOptions(options);
    this._WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this._WebSocket !== 'function') {
      throw new TypeError('CovenClient: no WebSocket implementation (pass options.WebSocket)');
    }
    this._random = options.random ?? Math.random;
    this._network = options.network === undefined ? defaultNetwork() : options.network;
    this._offline = false;
    this._onOnline = () => this._networkBack();
    this._onOffline = () => { this._offline = true; };
    /** @type {Array<{resolve: Function, reject: Function, timer: any}>} */
    this._waiters = [];
    this._projection = new Projection();
    /** @type {{epoch: string, seq: number} | null} */
    this._position = null;
    /** @type {Status} */
    this._status = 'idle';
    this._everConnected = false;
    /** @type {{token: string, expiresAt?: number, obtainedAt: number} | null} */
    this._token = null;
    this._attempt = 0;
    this._gen = 0; // grows with each connection attempt; stale callbacks compare it and do nothing
    this._ws = null;
    this._timers = new Map();
    this._helloAt = 0;
    this._lastError = null;
    this._roomsCache = null;
    /** @type {'' | 'ok' | 'unavailable'} */
    this._broker = '';
    this._known = false;
  }

  /** @returns {Status} */
  get status() { return this._status; }

  /** Whether the stream is up and the state current. */
  get connected() {
    return this._status === 'connected' || this._status === 'resumed' || this._status === 'snapshot';
  }

  /** The position of the last event applied, or null before any. @returns {{epoch: string, seq: number} | null} */
  get position() { return this._position && { ...this._position }; }

  /** The rooms with their members, in display order. Do not modify them. @returns {RoomState[]} */
  get rooms() {
    this._roomsCache ??= this._projection.rooms();
    return this._roomsCache;
  }

  /**
   * Whether the rooms are known: false before the first hello, and while the edge says it holds
   * nothing from Discord yet (a restarted edge: hello with state "unknown"), when `rooms` are what
   * the client held before, or none; show that as loading, not as "no rooms".
   */
  get stateKnown() { return this._known; }

  /** The worker's Discord link: "up", "reconnecting", "down", or "" before any system.status. */
  get discord() { return this._projection.discord; }

  /**
   * The edge's event broker as the edge last reported it: "ok", "unavailable" (events are paused,
   * the state is still valid), or "" before the first hello.
   */
  get broker() { return this._broker; }

  /** The last error frame or failure reported, or null. */
  get lastError() { return this._lastError; }

  /** Everything at once, for debugging hooks and tests. */
  get state() {
    return { status: this._status, position: this.position, discord: this.discord, broker: this._broker, stateKnown: this._known, rooms: this.rooms, lastError: this._lastError };
  }

  /**
   * Starts connecting. Calling it while started does nothing; after close() it connects again,
   * resuming from the last event received.
   */
  start() {
    if (this._status !== 'idle' && this._status !== 'closed') return;
    this._attempt = 0;
    if (this._network) {
      this._network.addEventListener('online', this._onOnline);
      this._network.addEventListener('offline', this._onOffline);
    }
    this._setStatus(this._everConnected ? 'reconnecting' : 'connecting', this._everConnected ? { reason: 'start' } : {});
    void this._connect(this._everConnected ? 'reconnect' : 'connect');
  }

  /**
   * Resolves with the state once the stream is up (at once if it is), or rejects when close() is
   * called first or, given timeoutMs, when that passes first.
   * @param {number} [timeoutMs]
   * @returns {Promise<CovenClient['state']>}
   */
  ready(timeoutMs) {
    if (this.connected) return Promise.resolve(this.state);
    if (this._status === 'closed') return Promise.reject(new Error('CovenClient: closed'));
    return new Promise((resolve, reject) => {
      const w = { resolve, reject, timer: undefined };
      if (timeoutMs !== undefined) {
        w.timer = setTimeout(() => {
          this._waiters = this._waiters.filter((x) => x !== w);
          reject(new Error(`CovenClient: not connected within ${timeoutMs} ms (${this._status})`));
        }, timeoutMs);
      }
      this._waiters.push(w);
    });
  }

  /** Drops the current connection, if any, and reconnects at once with a fresh backoff. */
  reconnect() {
    if (this._status === 'idle' || this._status === 'closed') return;
    this._abandon();
    this._attempt = 0;
    this._setStatus('reconnecting', { reason: 'requested' });
    void this._connect('reconnect');
  }

  /** Closes the stream and stops every timer; start() connects again. */
  close() {
    if (this._status === 'closed') return;
    this._abandon();
    if (this._network) {
      this._network.removeEventListener('online', this._onOnline);
      this._network.removeEventListener('offline', this._onOffline);
    }
    this._setStatus('closed');
  }

  /**
   * The browser is online again: a connection waiting for its next attempt tries at once, and one
   * that looked up while the browser was offline is replaced (its socket is likely dead, which pings
   * would notice only after pingIntervalMs + pongTimeoutMs).
   */
  _networkBack() {
    const wasOffline = this._offline;
    this._offline = false;
    if (this._status === 'reconnecting' && this._timers.has('reconnect')) {
      this._clearTimer('reconnect');
      this._attempt = 0;
      void this._connect('reconnect');
    } else if (wasOffline && this.connected) {
      this.reconnect();
    }
  }

  // ---- connecting ----

  /** @param {TokenReason} reason */
  async _connect(reason) {
    const gen = ++this._gen;
    let token;
    try {
      token = await this._tokenFor(reason);
    } catch (err) {
      if (gen !== this._gen) return;
      this._report({ code: 'token_provider', message: `the token provider failed: ${messageOf(err)}` });
      this._scheduleReconnect({ reason: 'token_provider' }, this._nextBackoff(), 'reconnect');
      return;
    }
    if (gen !== this._gen) return;
    let ws;
    try {
      ws = new this._WebSocket(this._opts.url);
    } catch (err) {
      this._report({ code: 'connect', message: `cannot open ${this._opts.url}: ${messageOf(err)}` });
      this._scheduleReconnect({ reason: 'connect' }, this._nextBackoff(), 'reconnect');
      return;
    }
    this._ws = ws;
    this._helloAt = 0;
    this._setTimer('handshake', this._opts.handshakeTimeoutMs, () => this._fail('handshake_timeout'));
    ws.onopen = () => {
      const auth = { type: 'auth', token: token.token };
      if (this._position) auth.resume = { epoch: this._position.epoch, seq: this._position.seq };
      ws.send(JSON.stringify(auth));
    };
    ws.onmessage = (ev) => this._onMessage(ev.data);
    ws.onerror = () => {}; // a close event follows with the code
    ws.onclose = (ev) => this._onClose(ev.code, ev.reason);
  }

  /** @param {TokenReason} reason @returns {Promise<{token: string, expiresAt?: number, obtainedAt: number}>} */
  async _tokenFor(reason) {
    const now = Date.now();
    const t = this._token;
    const forced = reason === 'unauthorized' || reason === 'expired' || reason === 'refresh';
    if (!forced && t && (t.expiresAt === undefined || now < this._refreshAt(t))) return t;
    const got = await this._opts.tokenProvider(reason);
    const token = checkToken(got);
    token.expiresAt ??= jwtExpiry(token.token);
    this._token = { ...token, obtainedAt: Date.now() };
    return this._token;
  }

  /** When a token should be replaced: refreshMarginMs before expiry, at most half its lifetime. */
  _refreshAt(t) {
    const lifetime = t.expiresAt - t.obtainedAt;
    const margin = Math.max(0, Math.min(this._opts.refreshMarginMs, lifetime / 2));
    return Math.max(t.expiresAt - margin, t.obtainedAt + this._opts.minRefreshDelayMs);
  }

  _scheduleRefresh() {
    const t = this._token;
    if (!t || t.expiresAt === undefined) return;
    const gen = this._gen;
    this._setTimer('refresh', Math.max(0, this._refreshAt(t) - Date.now()), async () => {
      try {
        const fresh = await this._tokenFor('refresh');
        if (gen !== this._gen) return;
        this._send(JSON.stringify({ type: 'auth', token: fresh.token }));
        this._scheduleRefresh();
      } catch (err) {
        if (gen !== this._gen) return;
        this._report({ code: 'token_provider', message: `the token refresh failed: ${messageOf(err)}` });
        // Try again while the current token lasts; past it the server closes with 4003.
        this._setTimer('refresh', this._opts.minRefreshDelayMs, () => this._scheduleRefresh());
      }
    });
  }

  // ---- receiving ----

  /** @param {unknown} data */
  _onMessage(data) {
    this._clearTimer('pong'); // anything arriving shows the connection is alive
    if (typeof data !== 'string') {
      this._report({ code: 'bad_frame', message: 'the server sent a binary message; the stream is JSON text' });
      this._fail('bad_frame');
      return;
    }
    /** @type {CovenEvent[]} */
    const applied = [];
    let replaced = false;
    let broken = false;
    // One message holds one or more frames joined by '\n' (JSON never holds a raw newline).
    for (const line of data.split('\n')) {
      if (line === '') continue;
      let frame;
      try {
        frame = JSON.parse(line);
      } catch {
        broken = true;
        break;
      }
      if (frame === null || typeof frame !== 'object') continue;
      if (typeof frame.v === 'number') {
        if (this._applyEvent(frame)) {
          applied.push(frame);
          if (frame.type === 'snapshot') replaced = true;
        }
        continue;
      }
      switch (frame.type) {
        case 'hello':
          this._onHello(frame);
          if (frame.resumed !== true) replaced = true;
          break;
        case 'error':
          this._report({ code: String(frame.code ?? 'error'), message: String(frame.message ?? '') });
          break;
        case 'status':
          // The edge's own status (not an event: no position). Unknown values are ignored.
          if (frame.broker === 'ok' || frame.broker === 'unavailable') this._setBroker(frame.broker);
          break;
        default:
          break; // pong, and frame types this client does not know yet
      }
    }
    if (applied.length > 0 || replaced) {
      this._roomsCache = null;
      this._emit('state', { cause: replaced ? 'snapshot' : 'events', events: applied });
    }
    if (broken) {
      // The frames after it are lost: reconnect and resume after the last event applied.
      this._report({ code: 'bad_frame', message: 'the server sent a frame that is not JSON' });
      this._fail('bad_frame');
    }
  }

  _onHello(hello) {
    this._clearTimer('handshake');
    this._helloAt = Date.now();
    this._lastError = null;
    let status;
    if (hello.resumed === true) {
      status = 'resumed';
    } else if (hello.state === 'unknown') {
      // The edge holds nothing from Discord yet: keep what is held (stale, or nothing), and the
      // position to resume from elsewhere; the worker's snapshot arrives as an event.
      this._known = false;
      status = this._everConnected ? 'snapshot' : 'connected';
    } else {
      this._projection.replace(hello.snapshot);
      this._roomsCache = null;
      this._known = true;
      status = this._everConnected ? 'snapshot' : 'connected';
    }
    if (hello.state !== 'unknown') {
      // An empty epoch means the edge holds no event yet: there is nothing to resume from.
      this._position = hello.epoch ? { epoch: hello.epoch, seq: Number(hello.seq) } : null;
    }
    this._everConnected = true;
    // A hello means a working edge; one whose broker is down says so in a status frame right after.
    this._setBroker('ok');
    this._scheduleRefresh();
    this._schedulePing();
    this._setStatus(status);
  }

  /** @param {'ok' | 'unavailable'} broker */
  _setBroker(broker) {
    if (this._broker === broker) return;
    this._broker = broker;
    this._emit('broker', { broker });
  }

  /** Applies an event unless it was already applied; reports whether it was. */
  _applyEvent(ev) {
    const p = this._position;
    if (p && ev.epoch === p.epoch && ev.seq <= p.seq) return false;
    const mismatch = this._projection.apply(ev);
    this._position = { epoch: ev.epoch, seq: ev.seq };
    if (ev.type === 'snapshot') this._known = true;
    this._emit('event', { event: ev, mismatch });
    return true;
  }

  _schedulePing() {
    if (this._opts.pingIntervalMs === 0) return;
    this._setTimer('ping', this._opts.pingIntervalMs, () => {
      this._send('{"type":"ping"}');
      if (!this._timers.has('pong')) {
        this._setTimer('pong', this._opts.pongTimeoutMs, () => this._fail('ping_timeout'));
      }
      this._schedulePing();
    });
  }

  // ---- losing the connection ----

  /** @param {number} code @param {string} reason */
  _onClose(code, reason) {
    const error = this._lastError;
    this._abandon();
    let delay = this._nextBackoff();
    let tokenReason = /** @type {TokenReason} */ ('reconnect');
    switch (code) {
      case CloseCode.UNAUTHORIZED:
        tokenReason = 'unauthorized';
        break;
      case CloseCode.TOKEN_EXPIRED:
        tokenReason = 'expired';
        if (this._attempt === 1) delay = 0; // a routine expiry: come back at once, resume
        break;
      case CloseCode.NO_AUTH:
        if (this._attempt === 1) delay = 0;
        break;
      case CloseCode.POLICY_VIOLATION:
      case CloseCode.MESSAGE_TOO_BIG:
        // The server refused what this client sent; a fast retry would repeat it.
        delay = Math.max(delay, this._opts.policyRetryMs);
        this._report({
          code: code === CloseCode.POLICY_VIOLATION ? 'policy_violation' : 'message_too_big',
          message: `the server refused a message from this client${error ? `: ${error.message}` : ''}`,
          closeCode: code,
        });
        break;
      case CloseCode.TOO_MANY_STREAMS:
      case CloseCode.RATE_LIMITED:
        // Over one of the server's limits: coming back at once would meet it again.
        delay = Math.max(delay, this._opts.limitRetryMs);
        this._report({
          code: code === CloseCode.TOO_MANY_STREAMS ? 'too_many_streams' : 'rate_limited',
          message: code === CloseCode.TOO_MANY_STREAMS
            ? 'this user holds as many streams as the server allows (other tabs or devices)'
            : 'this client sent more messages than the server allows',
          closeCode: code,
        });
        break;
      default:
        break; // 4008, 1012, 1013, network loss: resume with backoff
    }
    this._scheduleReconnect({ code, reason, error }, delay, tokenReason);
  }

  /** Abandons the current connection for reason, e.g. a timeout, and reconnects with backoff. */
  _fail(reason) {
    if (!this._ws) return;
    this._abandon();
    this._scheduleReconnect({ reason }, this._nextBackoff(), 'reconnect');
  }

  /** The next reconnection delay; a connection that was healthy long enough starts the backoff over. */
  _nextBackoff() {
    const o = this._opts;
    if (this._helloAt && Date.now() - this._helloAt >= o.stableAfterMs) this._attempt = 0;
    this._helloAt = 0;
    const base = Math.min(o.maxBackoffMs, o.initialBackoffMs * o.backoffFactor ** this._attempt);
    this._attempt++;
    return Math.round(base * (1 - o.jitter * this._random()));
  }

  _scheduleReconnect(detail, delayMs, tokenReason) {
    if (this._status === 'closed') return;
    this._setStatus('reconnecting', { ...detail, delayMs, attempt: this._attempt });
    this._setTimer('reconnect', delayMs, () => void this._connect(tokenReason));
  }

  /** Forgets the current socket and every connection timer, closing the socket if it is open. */
  _abandon() {
    this._gen++;
    for (const name of [...this._timers.keys()]) this._clearTimer(name);
    const ws = this._ws;
    this._ws = null;
    if (!ws) return;
    const ignore = () => {};
    ws.onopen = ws.onmessage = ws.onclose = ignore;
    ws.onerror = ignore; // some implementations report closing a connecting socket as an error
    try {
      ws.close(1000);
    } catch {
      // already closing
    }
  }

  // ---- plumbing ----

  /** Sends on the current socket; a socket already closing drops it, and its close event follows. */
  _send(text) {
    try {
      this._ws?.send(text);
    } catch {
      // not open any more
    }
  }

  _setStatus(status, detail = {}) {
    this._status = status;
    this._emit('status', { status, ...detail });
    if (this.connected || status === 'closed') {
      const waiters = this._waiters;
      this._waiters = [];
      for (const w of waiters) {
        clearTimeout(w.timer);
        if (status === 'closed') w.reject(new Error('CovenClient: closed'));
        else w.resolve(this.state);
      }
    }
  }

  _report(error) {
    this._lastError = error;
    this._emit('error', error);
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _setTimer(name, ms, fn) {
    this._clearTimer(name);
    this._timers.set(name, setTimeout(() => {
      this._timers.delete(name);
      fn();
    }, ms));
  }

  _clearTimer(name) {
    const t = this._timers.get(name);
    if (t !== undefined) {
      clearTimeout(t);
      this._timers.delete(name);
    }
  }
}

/** Checks the options and fills in the defaults; a bad value throws an error naming it. */
function checkOptions(options) {
  if (options === null || typeof options !== 'object') throw new TypeError('CovenClient: options are required');
  const { url, tokenProvider } = options;
  if (typeof url !== 'string' || !/^wss?:\/\//.test(url)) {
    throw new TypeError('CovenClient: options.url must be a ws: or wss: URL');
  }
  if (typeof tokenProvider !== 'function') throw new TypeError('CovenClient: options.tokenProvider must be a function');
  const out = { url, tokenProvider };
  for (const [name, def] of Object.entries(DEFAULT_OPTIONS)) {
    const v = options[name] ?? def;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new RangeError(`CovenClient: options.${name} must be a number of at least 0`);
    }
    out[name] = v;
  }
  if (out.jitter > 1) throw new RangeError('CovenClient: options.jitter must be between 0 and 1');
  if (out.backoffFactor < 1) throw new RangeError('CovenClient: options.backoffFactor must be at least 1');
  if (out.maxBackoffMs < out.initialBackoffMs) {
    throw new RangeError('CovenClient: options.maxBackoffMs must be at least initialBackoffMs');
  }
  return out;
}

/** Checks what a token provider returned, without ever putting the token in the error. */
function checkToken(got) {
  if (!got || typeof got.token !== 'string' || got.token === '') {
    throw new TypeError('it must return {token, expiresAt}');
  }
  let expiresAt = got.expiresAt;
  if (expiresAt instanceof Date) expiresAt = expiresAt.getTime();
  if (expiresAt !== undefined && (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt))) {
    throw new TypeError('expiresAt must be a Date or milliseconds since the epoch');
  }
  return { token: got.token, expiresAt };
}

/**
 * The exp claim of a JWT in milliseconds since the epoch, or undefined when token is not a JWT with
 * a numeric exp. The token is only decoded, never trusted: the server verifies it.
 * @param {string} token
 */
export function jwtExpiry(token) {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0))));
    return typeof json?.exp === 'number' && Number.isFinite(json.exp) ? json.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** The global window's network events, where there is a window. */
function defaultNetwork() {
  const w = globalThis.window;
  return w && typeof w.addEventListener === 'function' ? w : null;
}

function messageOf(err) {
  return err instanceof Error ? err.message : String(err);
}
