// What the client costs per event, measured against JSON.parse of the same frames in the same run
// (timings vary between machines; the ratio is what to compare):
//
//   node bench/client.bench.js
//
// The client is fed messages of 1 and 64 frames (the edge's largest coalesced message) through an
// in-process WebSocket stand-in, so the figure covers splitting, parsing, applying and dispatching.

import { CovenClient } from '../coven-client.js';
import { event, member, room, snapshotHello } from '../testsupport/frames.js';

const EVENTS = 200_000;
const ROOMS = 20;
const USERS = 200;

/** Enough of a WebSocket for the client: the benchmark calls deliver() to hand it messages. */
class InProcessSocket {
  static last = null;
  constructor() {
    InProcessSocket.last = this;
    queueMicrotask(() => this.onopen?.());
  }
  send() {}
  close() {}
  deliver(data) { this.onmessage({ data }); }
}

function frames() {
  const out = [];
  for (let seq = 2; seq < EVENTS + 2; seq++) {
    const r = String(1200000000000000000n + BigInt(seq % ROOMS));
    const u = String(1300000000000000000n + BigInt((seq * 7) % USERS));
    const type = seq % 3 === 0 ? 'voice.left' : seq % 3 === 1 ? 'voice.joined' : 'voice.updated';
    const data = type === 'voice.left' ? { room_id: r, user_id: u } : { room_id: r, member: member(u, `user${u.slice(-3)}`, { self_mute: seq % 2 === 0 }) };
    out.push(JSON.stringify(event(seq, type, data)));
  }
  return out;
}

function messages(all, perMessage) {
  const out = [];
  for (let i = 0; i < all.length; i += perMessage) out.push(all.slice(i, i + perMessage).join('\n'));
  return out;
}

async function run(perMessage, all) {
  const client = new CovenClient({
    url: 'ws://bench.invalid/ws', WebSocket: InProcessSocket, tokenProvider: () => ({ token: 't' }), pingIntervalMs: 0,
  });
  let states = 0;
  client.addEventListener('state', () => { states++; });
  client.start();
  await new Promise((resolve) => setTimeout(resolve, 10));
  const rooms = [];
  for (let i = 0; i < ROOMS; i++) rooms.push({ ...room(String(1200000000000000000n + BigInt(i)), `Room ${i}`, i), members: [] });
  InProcessSocket.last.deliver(JSON.stringify(snapshotHello('e1', 1, rooms)));
  const msgs = messages(all, perMessage);
  const start = process.hrtime.bigint();
  for (const m of msgs) InProcessSocket.last.deliver(m);
  const ns = Number(process.hrtime.bigint() - start);
  client.close();
  if (client.position.seq !== EVENTS + 1) throw new Error(`applied up to ${client.position.seq}`);
  return { ns, states };
}

const all = frames();
let parseNs = Infinity;
for (let round = 0; round < 3; round++) {
  const start = process.hrtime.bigint();
  for (const f of all) JSON.parse(f);
  parseNs = Math.min(parseNs, Number(process.hrtime.bigint() - start));
}
console.log(`JSON.parse alone: ${(parseNs / EVENTS / 1000).toFixed(2)} µs/event (baseline)`);
for (const perMessage of [1, 64]) {
  let best = Infinity;
  for (let round = 0; round < 3; round++) best = Math.min(best, (await run(perMessage, all)).ns);
  console.log(`client, ${perMessage} frame(s)/message: ${(best / EVENTS / 1000).toFixed(2)} µs/event, `
    + `${(best / parseNs).toFixed(1)}x the baseline`);
}
