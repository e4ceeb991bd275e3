// A scriptable stand-in for the edge's /ws stream, for the client library's tests (web/test/). Each
// test drives the server side by hand: it reads what the client sent, answers hello and events, and
// closes with the code under test. Every wait is bounded, so a broken client fails a test instead of
// hanging it.

import { WebSocketServer } from 'ws';

/** How long a wait lasts before it fails the test, unless the caller says otherwise. */
export const DEFAULT_WAIT_MS = 3000;

/** The stream server: a real WebSocket server on 127.0.0.1 with a free port. */
export class FakeStreamServer {
  /** @returns {Promise<FakeStreamServer>} */
  static async start() {
    const srv = new FakeStreamServer();
    await new Promise((resolve, reject) => {
      srv._wss = new WebSocketServer({ host: '127.0.0.1', port: 0 }, resolve);
      srv._wss.once('error', reject);
    });
    srv.url = `ws://127.0.0.1:${srv._wss.address().port}/ws`;
    srv._wss.on('connection', (ws) => srv._connections.push(new FakeConnection(ws)));
    return srv;
  }

  constructor() {
    /** @type {FakeConnection[]} every connection accepted, in order */
    this.connections = [];
    this._connections = new Queue();
    this.url = '';
  }

  /** The next connection the client opens. */
  async nextConnection(timeoutMs = DEFAULT_WAIT_MS) {
    const c = await this._connections.shift(timeoutMs, 'connection');
    this.connections.push(c);
    return c;
  }

  /**
   * Accepts the next connection and reads its auth message.
   * @returns {Promise<{conn: FakeConnection, auth: any}>}
   */
  async nextAuth(timeoutMs = DEFAULT_WAIT_MS) {
    const conn = await this.nextConnection(timeoutMs);
    const auth = await conn.nextMessage(timeoutMs);
    return { conn, auth };
  }

  /** Closes every connection and the server. */
  async close() {
    for (const ws of this._wss.clients) ws.terminate();
    await new Promise((resolve) => this._wss.close(() => resolve()));
  }
}

/** One client connection, seen from the server. */
export class FakeConnection {
  /** @param {import('ws').WebSocket} ws */
  constructor(ws) {
    this.ws = ws;
    this._messages = new Queue();
    /** Resolves with {code, reason} when the connection ends. */
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    ws.on('message', (data, isBinary) => {
      this._messages.push(isBinary ? data : JSON.parse(data.toString()));
    });
  }

  /** The next message from the client, parsed. */
  nextMessage(timeoutMs = DEFAULT_WAIT_MS) {
    return this._messages.shift(timeoutMs, 'client message');
  }

  /** Sends frames (objects or raw strings) joined by '\n' in ONE WebSocket message, as the edge does. */
  send(...frames) {
    this.ws.send(frames.map((f) => (typeof f === 'string' ? f : JSON.stringify(f))).join('\n'));
  }

  /** Sends an error frame, then closes with code, as the edge does. */
  fail(closeCode, errorCode, message) {
    this.send({ type: 'error', code: errorCode, message });
    this.ws.close(closeCode, errorCode);
  }
}

/** A FIFO whose shift waits, up to a deadline, for the next item. */
class Queue {
  constructor() {
    this._items = [];
    this._waiters = [];
  }

  push(item) {
    const w = this._waiters.shift();
    if (w) w(item);
    else this._items.push(item);
  }

  shift(timeoutMs, what) {
    if (this._items.length > 0) return Promise.resolve(this._items.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._waiters = this._waiters.filter((w) => w !== waiter);
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (item) => {
        clearTimeout(timer);
        resolve(item);
      };
      this._waiters.push(waiter);
    });
  }
}

/**
 * Waits for a CustomEvent of type on target whose detail satisfies match.
 * @returns {Promise<any>} the detail
 */
export function waitForEvent(target, type, match = () => true, timeoutMs = DEFAULT_WAIT_MS) {
  return new Promise((resolve, reject) => {
    const onEvent = (ev) => {
      if (!match(ev.detail)) return;
      cleanup();
      resolve(ev.detail);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no '${type}' event as expected within ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      target.removeEventListener(type, onEvent);
    };
    target.addEventListener(type, onEvent);
  });
}

/** Records every CustomEvent of the given types on target, as {type, detail}, for later assertions. */
export function recordEvents(target, ...types) {
  const seen = [];
  for (const type of types) target.addEventListener(type, (ev) => seen.push({ type, detail: ev.detail }));
  return seen;
}
