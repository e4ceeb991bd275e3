// Table view: the cameras and voices of a Discord room's members, live in the page. For each
// member of the room (as a CovenClient sees it), a TableWatcher plays their camera and voice over
// WebRTC with WHEP (docs/table.md): it POSTs an SDP offer to the edge's coven_media endpoint
// {baseUrl}/{room}/{member} with the bearer token, applies the answer, and DELETEs the session when
// the member leaves or the watcher stops. The relay answers with every candidate, so the offer is
// sent once the browser has gathered its own (no trickle).
//
// One MediaStream per member, its id the member's Discord user id. Frames for card recognition:
// see frames() below.

/**
 * Where one member's session stands, in 'member' events:
 * - "connecting": offer sent, or connection being set up;
 * - "live": media flows (the camera, when self_video is on);
 * - "camera-unavailable": the member's camera is on in Discord but no video reaches the relay
 *   (Discord may not forward video to bots): their voice may still play;
 * - "retrying": the session failed or ended (the relay restarted, the bot left); a new one is
 *   scheduled, detail.delayMs from now;
 * - "refused": the edge refused (403, 404): not retried until the room changes.
 * @typedef {'connecting' | 'live' | 'camera-unavailable' | 'retrying' | 'refused'} MemberState
 */

/** Tunables of TableWatcher, in milliseconds. */
export const TABLE_DEFAULTS = Object.freeze({
  /** The edge's coven_media base path (or an absolute URL). */
  baseUrl: '/api/table',
  /** Longest wait for the browser's ICE candidates before the offer goes anyway. */
  gatherTimeoutMs: 2_000,
  /** With self_video on and no frame for this long, the member's state is camera-unavailable. */
  videoGraceMs: 3_000,
  /** A connection disconnected this long (the relay went away) is set up anew. */
  disconnectedMs: 3_000,
  /** First retry delay after a failure; doubles up to maxBackoffMs. */
  initialBackoffMs: 1_000,
  maxBackoffMs: 15_000,
});

/**
 * @typedef {Partial<typeof TABLE_DEFAULTS> & {
 *   client: EventTarget & {rooms: any[]},
 *   tokenProvider: () => Promise<string> | string,
 *   selfId?: string,
 *   fetch?: typeof fetch,
 *   RTCPeerConnection?: typeof RTCPeerConnection,
 * }} TableOptions
 * client is the CovenClient whose rooms say who is in the room; tokenProvider returns the bearer
 * token (the one the client uses); selfId, the viewer's Discord id, is left out of the table, as
 * are bots (the relaying bot is in the room).
 */

/**
 * TableWatcher plays a room's members. It is an EventTarget dispatching CustomEvents:
 * - 'add': detail {userId, stream} when a member's MediaStream arrives (its id is the member's
 *   Discord user id), and again with the new one after a session was set up anew;
 * - 'remove': detail {userId} when a member left the room or the watcher stopped;
 * - 'member': detail {userId, state, reason?, delayMs?} when a member's state changes.
 */
export class TableWatcher extends EventTarget {
  /** @param {string} roomId @param {TableOptions} options */
  constructor(roomId, options) {
    super();
    if (!/^\d{1,20}$/.test(roomId)) throw new TypeError('TableWatcher: roomId must be a Discord snowflake');
    if (!options?.client || typeof options.tokenProvider !== 'function') {
      throw new TypeError('TableWatcher: options.client and options.tokenProvider are required');
    }
    this.roomId = roomId;
    this._o = { ...TABLE_DEFAULTS, ...options };
    this._fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this._PC = options.RTCPeerConnection ?? globalThis.RTCPeerConnection;
    /** @type {Map<string, MemberSession>} */
    this._members = new Map();
    this._onState = () => this._sync();
    this._stopped = true;
  }

  /** Starts following the room. */
  start() {
    if (!this._stopped) return;
    this._stopped = false;
    this._o.client.addEventListener('state', this._onState);
    this._sync();
  }

  /** Stops: every session is closed and DELETEd. */
  stop() {
    if (this._stopped) return;
    this._stopped = true;
    this._o.client.removeEventListener('state', this._onState);
    for (const id of [...this._members.keys()]) this._drop(id);
  }

  /** The members' streams that arrived, by user id. @returns {Map<string, MediaStream>} */
  get streams() {
    const out = new Map();
    for (const [id, m] of this._members) {
      if (m.stream) out.set(id, m.stream);
    }
    return out;
  }

  /** A member's state. @returns {MemberState | undefined} */
  state(userId) { return this._members.get(userId)?.state; }

  /**
   * The WebRTC statistics of a member's session (frames decoded, audio energy, packets lost...),
   * or null while it has no connection.
   * @returns {Promise<RTCStatsReport | null>}
   */
  async stats(userId) {
    const pc = this._members.get(userId)?.pc;
    return pc ? pc.getStats() : null;
  }

  _room() { return this._o.client.rooms.find((r) => r.id === this.roomId); }

  /** Opens a session per member in the room, closes those of members who left. */
  _sync() {
    if (this._stopped) return;
    const room = this._room();
    const present = new Map((room?.members ?? []).filter((m) => m.user_id !== this._o.selfId && !m.bot).map((m) => [m.user_id, m]));
    for (const id of [...this._members.keys()]) {
      if (!present.has(id)) this._drop(id);
    }
    for (const [id, m] of present) {
      let s = this._members.get(id);
      if (!s) {
        s = new MemberSession(this, id);
        this._members.set(id, s);
        s.open();
      }
      s.setVideoExpected(Boolean(m.self_video));
    }
  }

  _drop(id) {
    const s = this._members.get(id);
    if (!s) return;
    this._members.delete(id);
    s.close();
    this.dispatchEvent(new CustomEvent('remove', { detail: { userId: id } }));
  }

  _emit(userId, state, extra = {}) {
    this.dispatchEvent(new CustomEvent('member', { detail: { userId, state, ...extra } }));
  }

  _endpoint(userId) {
    return `${this._o.baseUrl.replace(/\/$/, '')}/${this.roomId}/${userId}`;
  }
}

/** One member's WHEP session, reopened after failures. */
class MemberSession {
  constructor(w, userId) {
    this.w = w;
    this.userId = userId;
    /** @type {MediaStream | null} */
    this.stream = null;
    /** @type {MemberState} */
    this.state = 'connecting';
    this.pc = null;
    this.location = null;
    this.closed = false;
    this.attempt = 0;
    this.timer = null;
    this.videoExpected = false;
    this.videoSeen = false;
    this.connected = false;
    this.graceTimer = null;
  }

  _set(state, extra) {
    if (this.state === state && !extra) return;
    this.state = state;
    this.w._emit(this.userId, state, extra);
  }

  setVideoExpected(on) {
    this.videoExpected = on;
    this._checkVideo();
  }

  /** Once connected: live when the camera is off or its frames arrive, else camera-unavailable after the grace. */
  _checkVideo() {
    clearTimeout(this.graceTimer);
    if (this.closed || !this.connected) return;
    if (!this.videoExpected || this.videoSeen) {
      this._set('live');
      return;
    }
    this.graceTimer = setTimeout(() => {
      if (!this.videoSeen && this.videoExpected && this.connected && !this.closed) this._set('camera-unavailable');
    }, this.w._o.videoGraceMs);
  }

  async open() {
    if (this.closed) return;
    this._set('connecting');
    const pc = new this.w._PC();
    this.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.ontrack = (ev) => {
      // The relay labels both tracks with the member's stream (msid: their user id).
      const stream = ev.streams[0] ?? this.stream ?? new MediaStream();
      if (!stream.getTracks().includes(ev.track)) stream.addTrack(ev.track);
      if (stream !== this.stream) {
        this.stream = stream;
        this.w.dispatchEvent(new CustomEvent('add', { detail: { userId: this.userId, stream } }));
      }
      if (ev.track.kind === 'video') {
        ev.track.onunmute = () => { this.videoSeen = true; this._checkVideo(); };
      }
    };
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc || this.closed) return;
      if (pc.connectionState === 'connected') {
        this.attempt = 0;
        this.connected = true;
        this._checkVideo();
      } else if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
        this._retry('the connection to the relay ' + pc.connectionState);
      } else if (pc.connectionState === 'disconnected') {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => {
          if (pc === this.pc && pc.connectionState === 'disconnected') this._retry('the relay stopped answering');
        }, this.w._o.disconnectedMs);
      }
    };
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, this.w._o.gatherTimeoutMs);
      const token = await this.w._o.tokenProvider();
      const resp = await this.w._fetch(this.w._endpoint(this.userId), {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
        body: pc.localDescription.sdp,
      });
      if (this.closed || pc !== this.pc) return;
      if (resp.status !== 201) {
        let reason = `HTTP ${resp.status}`;
        try { const b = await resp.json(); reason = `${b.error.code}: ${b.error.message}`; } catch { /* not JSON */ }
        if (resp.status === 403 || resp.status === 404) {
          pc.close();
          this._set('refused', { reason });
          return;
        }
        this._retry(reason);
        return;
      }
      const location = resp.headers.get('Location');
      this.location = location && new URL(location, new URL(this.w._endpoint(this.userId), globalThis.location?.href ?? 'http://localhost/')).href;
      await pc.setRemoteDescription({ type: 'answer', sdp: await resp.text() });
    } catch (err) {
      if (!this.closed && pc === this.pc) this._retry(String(err?.message ?? err));
    }
  }

  _retry(reason) {
    this._teardown();
    if (this.closed) return;
    const o = this.w._o;
    const delayMs = Math.min(o.maxBackoffMs, o.initialBackoffMs * 2 ** this.attempt);
    this.attempt++;
    this.videoSeen = false;
    this._set('retrying', { reason, delayMs });
    this.timer = setTimeout(() => this.open(), delayMs);
  }

  _teardown() {
    clearTimeout(this.graceTimer);
    this.connected = false;
    const pc = this.pc;
    this.pc = null;
    if (pc) pc.close();
    const location = this.location;
    this.location = null;
    if (location) {
      void (async () => {
        try {
          const token = await this.w._o.tokenProvider();
          await this.w._fetch(location, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
        } catch { /* the relay ends sessions that lose their connection */ }
      })();
    }
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this._teardown();
    for (const t of this.stream?.getTracks() ?? []) t.stop();
  }
}

/** Resolves when pc has gathered its candidates, or after timeoutMs. */
function gathered(pc, timeoutMs) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { clearTimeout(t); pc.removeEventListener('icegatheringstatechange', check); resolve(); };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    const t = setTimeout(done, timeoutMs);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/**
 * Plays a room's members: a started TableWatcher.
 * @param {string} roomId @param {TableOptions} options @returns {TableWatcher}
 */
export function watchRoom(roomId, options) {
  const w = new TableWatcher(roomId, options);
  w.start();
  return w;
}

/**
 * Frames of a video track for recognition, one at a time, as VideoFrame (with
 * MediaStreamTrackProcessor, where the browser has it: close each frame after use) or ImageBitmap
 * (drawn from a <video> element elsewhere, at most maxFps). Stop with the returned stop().
 * @param {MediaStreamTrack} track
 * @param {(frame: VideoFrame | ImageBitmap) => void | Promise<void>} onFrame
 * @param {{maxFps?: number}} [options]
 * @returns {{stop: () => void}}
 */
export function frames(track, onFrame, options = {}) {
  let stopped = false;
  const MSTP = globalThis.MediaStreamTrackProcessor;
  if (typeof MSTP === 'function') {
    const reader = new MSTP({ track }).readable.getReader();
    void (async () => {
      while (!stopped) {
        const { value, done } = await reader.read();
        if (done) return;
        try { await onFrame(value); } finally { if (stopped) value.close?.(); }
      }
    })();
    return { stop() { stopped = true; reader.cancel().catch(() => {}); } };
  }
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.srcObject = new MediaStream([track]);
  void video.play().catch(() => {});
  const interval = 1000 / (options.maxFps ?? 10);
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    if (video.videoWidth > 0) await onFrame(await createImageBitmap(video));
    timer = setTimeout(tick, interval);
  };
  timer = setTimeout(tick, interval);
  return { stop() { stopped = true; clearTimeout(timer); video.srcObject = null; } };
}
