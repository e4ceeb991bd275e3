// Generates the voice package's test media, byte for byte the same on every run:
//
//   media/tone-a.opus, tone-b.opus, tone-c.opus   1 s of a sine tone (440, 554, 659 Hz), mono
//       48 kHz, encoded by libopus 1.4 (opusscript, compiled to WebAssembly) in 20 ms frames at
//       24 kbit/s, in an Ogg Opus file (RFC 7845) written below: ID header page, comment header
//       page, then audio pages of up to 10 packets with granule positions that count pre-skip.
//   media/clip.ivf                                12 VP8 frames at 30 fps, 176x144, in IVF. The frames
//       are not decodable pictures: each has a valid VP8 frame header (RFC 6386 section 9.1:
//       frame tag, and on keyframes the start code and dimensions) followed by filler bytes,
//       which is all RTP packetization and reassembly look at. Frames 0 and 6 are keyframes.
//
// Usage: node generate.js <testdata dir>
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const OpusScript = require('opusscript');

const RATE = 48000;
const FRAME = 960; // 20 ms
const PRE_SKIP = 312; // libopus's encoder delay at 48 kHz

function filler(label, n) {
  const out = Buffer.alloc(n);
  let filled = 0;
  for (let i = 0; filled < n; i++) {
    filled += crypto.createHash('sha256').update(`${label}/${i}`).digest().copy(out, filled);
  }
  return out;
}

// --- Ogg (RFC 3533) -------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) r = r & 0x80000000 ? ((r << 1) ^ 0x04c11db7) >>> 0 : (r << 1) >>> 0;
    t[i] = r >>> 0;
  }
  return t;
})();

function oggCRC(buf) {
  let crc = 0;
  for (const b of buf) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]) >>> 0;
  return crc;
}

function oggPage({ packets, granule, serial, seq, bos, eos }) {
  const lacing = [];
  for (const p of packets) {
    let n = p.length;
    while (n >= 255) { lacing.push(255); n -= 255; }
    lacing.push(n);
  }
  if (lacing.length > 255) throw new Error('page too large');
  const header = Buffer.alloc(27 + lacing.length);
  header.write('OggS', 0, 'latin1');
  header[4] = 0; // version
  header[5] = (bos ? 0x02 : 0) | (eos ? 0x04 : 0);
  header.writeBigUInt64LE(BigInt(granule), 6);
  header.writeUInt32LE(serial, 14);
  header.writeUInt32LE(seq, 18);
  header.writeUInt32LE(0, 22); // CRC, computed over the page with this field zero
  header[26] = lacing.length;
  Buffer.from(lacing).copy(header, 27);
  const page = Buffer.concat([header, ...packets]);
  page.writeUInt32LE(oggCRC(page), 22);
  return page;
}

function oggOpus(packets, serial) {
  const head = Buffer.alloc(19);
  head.write('OpusHead', 0, 'latin1');
  head[8] = 1; // version
  head[9] = 1; // channels
  head.writeUInt16LE(PRE_SKIP, 10);
  head.writeUInt32LE(RATE, 12);
  head.writeInt16LE(0, 16); // output gain
  head[18] = 0; // channel mapping family
  const vendor = Buffer.from('libopus 1.4 (opusscript 0.1.1)', 'utf8');
  const tags = Buffer.alloc(8 + 4 + vendor.length + 4);
  tags.write('OpusTags', 0, 'latin1');
  tags.writeUInt32LE(vendor.length, 8);
  vendor.copy(tags, 12);
  tags.writeUInt32LE(0, 12 + vendor.length); // no user comments

  const pages = [
    oggPage({ packets: [head], granule: 0, serial, seq: 0, bos: true }),
    oggPage({ packets: [tags], granule: 0, serial, seq: 1 }),
  ];
  let granule = PRE_SKIP;
  for (let i = 0, seq = 2; i < packets.length; i += 10, seq++) {
    const chunk = packets.slice(i, i + 10);
    granule += chunk.length * FRAME;
    pages.push(oggPage({ packets: chunk, granule, serial, seq, eos: i + 10 >= packets.length }));
  }
  return Buffer.concat(pages);
}

function tone(freq, frames) {
  const enc = new OpusScript(RATE, 1, OpusScript.Application.AUDIO);
  enc.setBitrate(24000);
  const packets = [];
  for (let f = 0; f < frames; f++) {
    const pcm = Buffer.alloc(FRAME * 2);
    for (let i = 0; i < FRAME; i++) {
      const n = f * FRAME + i;
      const fade = Math.min(1, n / 2400, (frames * FRAME - n) / 2400);
      pcm.writeInt16LE(Math.round(12000 * fade * Math.sin((2 * Math.PI * freq * n) / RATE)), 2 * i);
    }
    packets.push(Buffer.from(enc.encode(pcm, FRAME)));
  }
  enc.delete();
  return packets;
}

// --- IVF and VP8 frame headers -----------------------------------------------------------------

const WIDTH = 176;
const HEIGHT = 144;

function vp8Frame(index, key, size) {
  const frame = filler(`vp8/${index}`, size);
  const headerLen = key ? 10 : 3;
  const firstPartSize = Math.min(size - headerLen, 0x7ffff);
  // Frame tag: bit 0 is 0 for keyframes, bits 1-3 version 0, bit 4 show_frame, bits 5-23 the
  // size of the first partition.
  const tag = (firstPartSize << 5) | (1 << 4) | (key ? 0 : 1);
  frame[0] = tag & 0xff;
  frame[1] = (tag >> 8) & 0xff;
  frame[2] = (tag >> 16) & 0xff;
  if (key) {
    frame[3] = 0x9d; frame[4] = 0x01; frame[5] = 0x2a;
    frame.writeUInt16LE(WIDTH, 6); // 14 bits of width, no scaling
    frame.writeUInt16LE(HEIGHT, 8);
  }
  return frame;
}

function ivf(frames, fps) {
  const header = Buffer.alloc(32);
  header.write('DKIF', 0, 'latin1');
  header.writeUInt16LE(0, 4);
  header.writeUInt16LE(32, 6);
  header.write('VP80', 8, 'latin1');
  header.writeUInt16LE(WIDTH, 12);
  header.writeUInt16LE(HEIGHT, 14);
  header.writeUInt32LE(fps, 16); // time base denominator
  header.writeUInt32LE(1, 20); // time base numerator
  header.writeUInt32LE(frames.length, 24);
  const parts = [header];
  frames.forEach((f, i) => {
    const fh = Buffer.alloc(12);
    fh.writeUInt32LE(f.length, 0);
    fh.writeBigUInt64LE(BigInt(i), 4);
    parts.push(fh, f);
  });
  return Buffer.concat(parts);
}

function clip() {
  const frames = [];
  for (let i = 0; i < 12; i++) {
    const key = i % 6 === 0;
    const size = key ? 2500 : 100 + ((i * 373) % 800);
    frames.push(vp8Frame(i, key, size));
  }
  return ivf(frames, 30);
}

function main() {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: node generate.js <testdata dir>\n');
    process.exit(2);
  }
  const out = path.join(dir, 'media');
  fs.mkdirSync(out, { recursive: true });
  const tones = { a: 440, b: 554, c: 659 };
  Object.entries(tones).forEach(([name, freq], i) => {
    fs.writeFileSync(path.join(out, `tone-${name}.opus`), oggOpus(tone(freq, 50), 0x5c0de000 + i));
  });
  fs.writeFileSync(path.join(out, 'clip.ivf'), clip());
}

main();
