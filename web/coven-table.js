// Table view: the cameras and voices of a Discord room's members, live in the page. For each
// member of the room (as a CovenClient sees it), a TableWatcher plays their camera and voice over
// WebRTC with WHEP (docs/table.md): it POSTs an SDP offer to the edge's coven_media endpoint
// {baseUrl}/{room}/{member} with the bearer token, applies the answer, and DELETEs the session when
// the member leaves or the watcher stops. The relay answers with every candidate, so the offer is
// sent once the browser has gathered its own (no trickle).
//
// One MediaStream per member, its id the member's Discord user id. Frames for card recognition:
// see frames() below.
//
// Board cameras: a player publishes a camera pointed at their board from the page with WHIP
// (publishBoard below: POST {baseUrl}/{room}/board). The watcher lists the room's published
// sources (GET {baseUrl}/{room}, every sourcesIntervalMs) and plays each as one more source
// (WHEP: {baseUrl}/{room}/{member}/board), its events labelled with the member's user id and
// kind 'board' (a member's Discord camera and voice: kind 'camera'), keyed `${userId}:board`.

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
  /** How often the room's published sources (board cameras) are listed. */
  sourcesIntervalMs: 3_000,
});

/** The key of a source in a TableWatcher: the user id for a member's camera, `${userId}:${kind}` otherwise. */
export function sourceKey(userId, kind = 'camera') {
  return kind === 'camera' ? userId : `${userId}:${kind}`;
}

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
 * TableWatcher plays a room's members and their published board cameras. It is an EventTarget
 * dispatching CustomEvents, each detail with the source's userId, kind ('camera': the member's
 * Discord camera and voice; 'board': the board camera they publish) and key (sourceKey()):
 * - 'add': detail {userId, kind, key, stream} when a source's MediaStream arrives (a member's
 *   camera: its id is the member's Discord user id), and again with the new one after a session
 *   was set up anew;
 * - 'remove': detail {userId, kind, key} when a member left the room, a board camera stopped, or
 *   the watcher stopped;
 * - 'member': detail {userId, kind, key, state, reason?, delayMs?} when a source's state changes.
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
    /** @type {Map<string, MemberSession>} sessions by source key */
    this._members = new Map();
    /** @type {Map<string, {userId: string, kind: string}>} the room's published sources, by key */
    this._sources = new Map();
    this._pollTimer = null;
    this._onState = () => this._sync();
    this._stopped = true;
  }

  /** Starts following the room. */
  start() {
    if (!this._stopped) return;
    this._stopped = false;
    this._o.client.addEventListener('state', this._onState);
    this._sync();
    void this._poll();
  }

  /** Stops: every session is closed and DELETEd. */
  stop() {
    if (this._stopped) return;
    this._stopped = true;
    this._o.client.removeEventListener('state', this._onState);
    clearTimeout(this._pollTimer);
    this._sources.clear();
    for (const id of [...this._members.keys()]) this._drop(id);
  }

  /** The sources' streams that arrived, by key (a member's camera: their user id). @returns {Map<string, MediaStream>} */
  get streams() {
    const out = new Map();
    for (const [id, m] of this._members) {
      if (m.stream) out.set(id, m.stream);
    }
    return out;
  }

  /** A source's state, by key (a member's camera: their user id). @returns {MemberState | undefined} */
  state(key) { return this._members.get(key)?.state; }

  /**
   * The WebRTC statistics of a member's session (frames decoded, audio energy, packets lost...),
   * or null while it has no connection.
   * @returns {Promise<RTCStatsReport | null>}
   */
  async stats(key) {
    const pc = this._members.get(key)?.pc;
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
    this._syncSources(present);
  }

  /** Opens a session per published source of a member in the room; closes those gone. */
  _syncSources(present) {
    for (const [key, s] of [...this._members]) {
      if (s.kind !== 'camera' && (!this._sources.has(key) || !present.has(s.userId))) this._drop(key);
    }
    for (const [key, src] of this._sources) {
      if (!present.has(src.userId) || this._members.has(key)) continue;
      const s = new MemberSession(this, src.userId, src.kind);
      this._members.set(key, s);
      s.open();
      s.setVideoExpected(true);
    }
  }

  /** Lists the room's published sources, and again every sourcesIntervalMs. */
  async _poll() {
    clearTimeout(this._pollTimer);
    if (this._stopped) return;
    try {
      const token = await this._o.tokenProvider();
      const resp = await this._fetch(`${this._o.baseUrl.replace(/\/$/, '')}/${this.roomId}`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      if (resp.ok) {
        const body = await resp.json();
        this._sources = new Map((body.sources ?? []).filter((s) => s.user_id !== this._o.selfId)
          .map((s) => [sourceKey(s.user_id, s.kind), { userId: s.user_id, kind: s.kind }]));
        if (!this._stopped) this._sync();
      }
    } catch { /* listed again at the next interval */ }
    if (!this._stopped) this._pollTimer = setTimeout(() => void this._poll(), this._o.sourcesIntervalMs);
  }

  _drop(key) {
    const s = this._members.get(key);
    if (!s) return;
    this._members.delete(key);
    s.close();
    this.dispatchEvent(new CustomEvent('remove', { detail: { userId: s.userId, kind: s.kind, key } }));
  }

  _emit(s, state, extra = {}) {
    this.dispatchEvent(new CustomEvent('member', { detail: { userId: s.userId, kind: s.kind, key: s.key, state, ...extra } }));
  }

  _endpoint(userId, kind = 'camera') {
    const base = `${this._o.baseUrl.replace(/\/$/, '')}/${this.roomId}/${userId}`;
    return kind === 'camera' ? base : `${base}/${kind}`;
  }
}

/** One source's WHEP session (a member's camera and voice, or their board camera), reopened after failures. */
class MemberSession {
  constructor(w, userId, kind = 'camera') {
    this.w = w;
    this.userId = userId;
    this.kind = kind;
    this.key = sourceKey(userId, kind);
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
    this.w._emit(this, state, extra);
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
    if (this.kind === 'camera') pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.ontrack = (ev) => {
      // The relay labels both tracks with the member's stream (msid: their user id; a board
      // camera's: `${userId}-board`).
      const stream = ev.streams[0] ?? this.stream ?? new MediaStream();
      if (!stream.getTracks().includes(ev.track)) stream.addTrack(ev.track);
      if (stream !== this.stream) {
        this.stream = stream;
        this.w.dispatchEvent(new CustomEvent('add', { detail: { userId: this.userId, kind: this.kind, key: this.key, stream } }));
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
      const resp = await this.w._fetch(this.w._endpoint(this.userId, this.kind), {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
        body: pc.localDescription.sdp,
      });
      if (this.closed || pc !== this.pc) return;
      if (resp.status !== 201) {
        let reason = `HTTP ${resp.status}`;
        try { const b = await resp.json(); reason = `${b.error.code}: ${b.error.message}`; } catch { /* not JSON */ }
        if (resp.status === 404 && this.kind !== 'camera') {
          // The board camera stopped between the listing and this request.
          pc.close();
          this.w._sources.delete(this.key);
          this.w._drop(this.key);
          return;
        }
        if (resp.status === 403 || resp.status === 404) {
          pc.close();
          this._set('refused', { reason });
          return;
        }
        this._retry(reason);
        return;
      }
      const location = resp.headers.get('Location');
      this.location = location && new URL(location, new URL(this.w._endpoint(this.userId, this.kind), globalThis.location?.href ?? 'http://localhost/')).href;
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
 * Where a board camera's publishing stands, in 'state' events:
 * - "connecting": offer sent, or connection being set up;
 * - "live": the relay receives the camera;
 * - "retrying": the session failed or ended (the relay restarted); a new one is scheduled,
 *   detail.delayMs from now;
 * - "refused": the edge refused (403: not in the room's voice channel, table view off; 404: no
 *   such room; 400: the browser offered no VP8 video): not retried;
 * - "stopped": stop() was called.
 * @typedef {'connecting' | 'live' | 'retrying' | 'refused' | 'stopped'} PublishState
 */

/**
 * @typedef {Partial<typeof TABLE_DEFAULTS> & {
 *   tokenProvider: () => Promise<string> | string,
 *   kind?: string,
 *   fetch?: typeof fetch,
 *   RTCPeerConnection?: typeof RTCPeerConnection,
 * }} PublishOptions
 */

/**
 * BoardPublisher publishes a camera into a room with WHIP: the stream's first video track (and
 * its first audio track, if any) go to the relay, which forwards them to the room's viewers as the
 * caller's board camera. It is an EventTarget dispatching 'state' CustomEvents, detail
 * {state, reason?, delayMs?}. stop() ends the session (DELETE); the stream's tracks stay the
 * caller's to stop. The video track's contentHint, when unset, becomes 'detail' (keep the
 * resolution, drop frames first). Publishing the same kind again into the room replaces the
 * previous session (another tab's, or one a reload left behind).
 */
export class BoardPublisher extends EventTarget {
  /** @param {string} roomId @param {MediaStream} stream @param {PublishOptions} options */
  constructor(roomId, stream, options) {
    super();
    if (!/^\d{1,20}$/.test(roomId)) throw new TypeError('BoardPublisher: roomId must be a Discord snowflake');
    if (!stream?.getVideoTracks?.().length) throw new TypeError('BoardPublisher: the stream has no video track');
    if (typeof options?.tokenProvider !== 'function') throw new TypeError('BoardPublisher: options.tokenProvider is required');
    this.roomId = roomId;
    this.stream = stream;
    this._o = { ...TABLE_DEFAULTS, kind: 'board', ...options };
    this._fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this._PC = options.RTCPeerConnection ?? globalThis.RTCPeerConnection;
    /** @type {PublishState} */
    this.state = 'connecting';
    this.pc = null;
    this.location = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
  }

  /** The WHIP endpoint. */
  get endpoint() { return `${this._o.baseUrl.replace(/\/$/, '')}/${this.roomId}/${this._o.kind}`; }

  /** The WebRTC statistics of the session (frames sent...), or null while it has no connection. */
  async stats() { return this.pc ? this.pc.getStats() : null; }

  _set(state, extra) {
    if (this.state === state && !extra) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, ...extra } }));
  }

  async start() {
    if (this.stopped) return;
    this._set('connecting');
    const pc = new this._PC();
    this.pc = pc;
    const track = this.stream.getVideoTracks()[0];
    // Cards are read from this picture: under a poor network, keep the resolution and let the
    // frame rate drop, unless the caller chose otherwise.
    if ('contentHint' in track && !track.contentHint) track.contentHint = 'detail';
    const video = pc.addTransceiver(track, { direction: 'sendonly', streams: [this.stream] });
    // The relay forwards VP8 only: offer it first.
    const caps = globalThis.RTCRtpSender?.getCapabilities?.('video')?.codecs;
    if (caps && video.setCodecPreferences) {
      const vp8 = caps.filter((c) => /vp8/i.test(c.mimeType));
      if (vp8.length) video.setCodecPreferences([...vp8, ...caps.filter((c) => !/vp8/i.test(c.mimeType))]);
    }
    const audio = this.stream.getAudioTracks()[0];
    if (audio) pc.addTransceiver(audio, { direction: 'sendonly', streams: [this.stream] });
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc || this.stopped) return;
      if (pc.connectionState === 'connected') {
        this.attempt = 0;
        this._set('live');
      } else if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
        this._retry('the connection to the relay ' + pc.connectionState);
      } else if (pc.connectionState === 'disconnected') {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => {
          if (pc === this.pc && pc.connectionState === 'disconnected') this._retry('the relay stopped answering');
        }, this._o.disconnectedMs);
      }
    };
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, this._o.gatherTimeoutMs);
      const token = await this._o.tokenProvider();
      const resp = await this._fetch(this.endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
        body: pc.localDescription.sdp,
      });
      if (this.stopped || pc !== this.pc) return;
      if (resp.status !== 201) {
        let reason = `HTTP ${resp.status}`;
        try { const b = await resp.json(); reason = `${b.error.code}: ${b.error.message}`; } catch { /* not JSON */ }
        if (resp.status === 400 || resp.status === 403 || resp.status === 404 || resp.status === 415) {
          this.pc = null;
          pc.close();
          this._set('refused', { reason });
          return;
        }
        this._retry(reason);
        return;
      }
      const location = resp.headers.get('Location');
      this.location = location && new URL(location, new URL(this.endpoint, globalThis.location?.href ?? 'http://localhost/')).href;
      await pc.setRemoteDescription({ type: 'answer', sdp: await resp.text() });
    } catch (err) {
      if (!this.stopped && pc === this.pc) this._retry(String(err?.message ?? err));
    }
  }

  _retry(reason) {
    this._teardown();
    if (this.stopped) return;
    const delayMs = Math.min(this._o.maxBackoffMs, this._o.initialBackoffMs * 2 ** this.attempt);
    this.attempt++;
    this._set('retrying', { reason, delayMs });
    this.timer = setTimeout(() => void this.start(), delayMs);
  }

  _teardown() {
    const pc = this.pc;
    this.pc = null;
    if (pc) pc.close();
    const location = this.location;
    this.location = null;
    if (location) {
      void (async () => {
        try {
          const token = await this._o.tokenProvider();
          await this._fetch(location, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
        } catch { /* the relay ends sessions that lose their connection */ }
      })();
    }
  }

  /** Ends the publishing session: the room's viewers see the board camera go. */
  stop() {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this._teardown();
    this._set('stopped');
  }
}

/**
 * Publishes a camera pointed at the caller's board into a room: a started BoardPublisher.
 * @param {string} roomId @param {MediaStream} stream @param {PublishOptions} options
 * @returns {BoardPublisher}
 */
export function publishBoard(roomId, stream, options) {
  const p = new BoardPublisher(roomId, stream, options);
  void p.start();
  return p;
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
