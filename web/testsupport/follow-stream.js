// Follows a stream with the client library and answers questions about its state, for
// web/conformance_test.go, which runs it against the real hub:
//
//   node testsupport/follow-stream.js <ws-url>
//
// It prints one JSON line per 'status' event ({"status": ...}). For each line "<epoch> <seq>" read on
// standard input it waits until the client has applied the event at that position and prints
// {"position": ..., "rooms": [...], "discord": "..."}; if that does not happen within 10 s it prints
// {"error": ...}. It exits when standard input ends.

import { createInterface } from 'node:readline';
import WebSocket from 'ws';

import { CovenClient } from '../coven-client.js';

const WAIT_MS = 10_000;

const client = new CovenClient({
  url: process.argv[2],
  WebSocket,
  tokenProvider: () => ({ token: 'conformance' }),
  initialBackoffMs: 10,
  maxBackoffMs: 100,
  pingIntervalMs: 0,
});
client.addEventListener('status', (ev) => print({ status: ev.detail.status, code: ev.detail.code }));
client.start();

function print(v) {
  process.stdout.write(`${JSON.stringify(v)}\n`);
}

function at(epoch, seq) {
  const p = client.position;
  return p !== null && p.epoch === epoch && p.seq === seq;
}

/** Resolves when the client's position is (epoch, seq), checking after every state change. */
function reached(epoch, seq) {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!at(epoch, seq)) return;
      done();
      resolve();
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`position ${epoch}/${seq} not reached within ${WAIT_MS} ms; at ${JSON.stringify(client.position)}`));
    }, WAIT_MS);
    const done = () => {
      clearTimeout(timer);
      client.removeEventListener('state', check);
      client.removeEventListener('status', check);
    };
    client.addEventListener('state', check);
    client.addEventListener('status', check);
    check();
  });
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const [epoch, seq] = line.trim().split(' ');
  try {
    await reached(epoch, Number(seq));
    print({ position: client.position, rooms: client.rooms, discord: client.discord });
  } catch (err) {
    print({ error: err.message });
  }
}
client.close();
