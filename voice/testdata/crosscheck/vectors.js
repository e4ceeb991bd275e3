// Transport-encryption vectors for Discord's voice packets, built by code independent of the Go
// package: libsodium (XChaCha20-Poly1305 IETF and secretbox) and Node's crypto (AES-256-GCM).
// The packet layout follows the protocol notes, written here from scratch.
//
//   node vectors.js generate      prints the vectors as JSON (committed as ../crypto_vectors.json)
//   node vectors.js open          reads [{mode, key, packet}] as JSON on stdin, decrypts each packet
//                                 and prints [{ok, payload, extension}] (hex)
//
// Every input is derived from SHA-256 of a label, so the output is the same on every run.
'use strict';

const crypto = require('node:crypto');
const sodium = require('libsodium-wrappers');

function bytes(label, n) {
  const out = Buffer.alloc(n);
  let filled = 0;
  for (let i = 0; filled < n; i++) {
    const block = crypto.createHash('sha256').update(`${label}/${i}`).digest();
    filled += block.copy(out, filled);
  }
  return out;
}

// rtpHeader builds the clear header: fixed 12 bytes, CSRCs and, with an extension, its 4-byte
// preamble (profile, length in words). The extension body is returned apart: it is encrypted.
function rtpHeader(v) {
  const fixed = Buffer.alloc(12);
  fixed[0] = 0x80 | (v.padding ? 0x20 : 0) | (v.extension ? 0x10 : 0) | v.csrcs.length;
  fixed[1] = (v.marker ? 0x80 : 0) | v.pt;
  fixed.writeUInt16BE(v.seq, 2);
  fixed.writeUInt32BE(v.ts, 4);
  fixed.writeUInt32BE(v.ssrc, 8);
  const parts = [fixed];
  for (const c of v.csrcs) {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(c, 0);
    parts.push(b);
  }
  if (v.extension) {
    const pre = Buffer.alloc(4);
    pre.writeUInt16BE(v.extension.profile, 0);
    pre.writeUInt16BE(v.extension.body.length / 4, 2);
    parts.push(pre);
  }
  return Buffer.concat(parts);
}

function counterBytes(counter) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(counter >>> 0, 0);
  return b;
}

// seal encrypts one packet: rtpsize modes keep the clear header as associated data and encrypt
// extension body || payload, then append tag and counter; the legacy mode uses the fixed header
// as nonce and boxes everything after it.
function seal(mode, key, v) {
  const clear = rtpHeader(v);
  const extBody = v.extension ? v.extension.body : Buffer.alloc(0);
  const plain = Buffer.concat([extBody, v.payload]);
  switch (mode) {
    case 'aead_aes256_gcm_rtpsize': {
      const nonce = Buffer.concat([counterBytes(v.counter), Buffer.alloc(8)]);
      const c = crypto.createCipheriv('aes-256-gcm', key, nonce);
      c.setAAD(clear);
      const body = Buffer.concat([c.update(plain), c.final()]);
      return Buffer.concat([clear, body, c.getAuthTag(), counterBytes(v.counter)]);
    }
    case 'aead_xchacha20_poly1305_rtpsize': {
      const nonce = Buffer.concat([counterBytes(v.counter), Buffer.alloc(20)]);
      const boxed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plain, clear, null, nonce, key);
      return Buffer.concat([clear, Buffer.from(boxed), counterBytes(v.counter)]);
    }
    case 'xsalsa20_poly1305': {
      const fixed = clear.subarray(0, 12);
      const nonce = Buffer.concat([fixed, Buffer.alloc(12)]);
      const inner = Buffer.concat([clear.subarray(12), plain]);
      const boxed = sodium.crypto_secretbox_easy(inner, nonce, key);
      return Buffer.concat([fixed, Buffer.from(boxed)]);
    }
  }
  throw new Error(`unknown mode ${mode}`);
}

// open decrypts a packet and returns {payload, extension} or throws.
function open(mode, key, packet) {
  if (mode === 'xsalsa20_poly1305') {
    const nonce = Buffer.concat([packet.subarray(0, 12), Buffer.alloc(12)]);
    let inner = Buffer.from(sodium.crypto_secretbox_open_easy(packet.subarray(12), nonce, key));
    inner = inner.subarray(4 * (packet[0] & 0x0f));
    let ext = Buffer.alloc(0);
    if (packet[0] & 0x10) {
      const words = inner.readUInt16BE(2);
      ext = inner.subarray(4, 4 + 4 * words);
      inner = inner.subarray(4 + 4 * words);
    }
    return { payload: unpad(packet, inner), extension: ext };
  }
  let clearLen = 12 + 4 * (packet[0] & 0x0f);
  let words = 0;
  if (packet[0] & 0x10) {
    words = packet.readUInt16BE(clearLen + 2);
    clearLen += 4;
  }
  const clear = packet.subarray(0, clearLen);
  const counter = packet.subarray(packet.length - 4);
  const tag = packet.subarray(packet.length - 20, packet.length - 4);
  const body = packet.subarray(clearLen, packet.length - 20);
  let plain;
  if (mode === 'aead_aes256_gcm_rtpsize') {
    const d = crypto.createDecipheriv('aes-256-gcm', key, Buffer.concat([counter, Buffer.alloc(8)]));
    d.setAAD(clear);
    d.setAuthTag(tag);
    plain = Buffer.concat([d.update(body), d.final()]);
  } else if (mode === 'aead_xchacha20_poly1305_rtpsize') {
    const nonce = Buffer.concat([counter, Buffer.alloc(20)]);
    plain = Buffer.from(sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null, Buffer.concat([body, tag]), clear, nonce, key));
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  return { payload: unpad(packet, plain.subarray(4 * words)), extension: plain.subarray(0, 4 * words) };
}

function unpad(packet, payload) {
  if (!(packet[0] & 0x20)) return payload;
  const n = payload[payload.length - 1];
  if (n === 0 || n > payload.length) throw new Error('bad padding');
  return payload.subarray(0, payload.length - n);
}

// cases covers what the receive side must honour: plain packets, CSRCs, a one-byte extension,
// padding, all together, an empty payload, the counter's wrap and a video-sized payload.
function cases() {
  const base = { marker: false, pt: 120, seq: 4660, ts: 960000, ssrc: 0x11223344, csrcs: [], counter: 7 };
  const payload = (label, n) => bytes(`payload/${label}`, n);
  const ext = (label, words) => ({ profile: 0xbede, body: bytes(`ext/${label}`, 4 * words) });
  const padded = (label, n, pad) => {
    const p = Buffer.concat([payload(label, n), Buffer.alloc(pad)]);
    p[p.length - 1] = pad;
    return p;
  };
  return [
    { name: 'opus frame', ...base, payload: payload('opus', 120) },
    { name: 'silence frame', ...base, seq: 65535, payload: Buffer.from([0xf8, 0xff, 0xfe]) },
    { name: 'csrcs', ...base, csrcs: [1, 0xdeadbeef, 3], payload: payload('csrcs', 80) },
    { name: 'one-byte extension', ...base, extension: ext('one', 1), payload: payload('ext1', 90) },
    { name: 'two-word extension', ...base, marker: true, pt: 103, extension: ext('two', 2), payload: payload('ext2', 300) },
    { name: 'padding', ...base, padding: true, payload: padded('pad', 50, 4) },
    { name: 'csrcs extension padding', ...base, csrcs: [9], padding: true, extension: ext('all', 1), payload: padded('all', 33, 7) },
    { name: 'empty payload', ...base, payload: Buffer.alloc(0) },
    { name: 'counter wraps', ...base, counter: 0xffffffff, payload: payload('wrap', 64) },
    { name: 'video mtu', ...base, pt: 103, extension: ext('video', 1), payload: payload('video', 1150) },
  ];
}

const modes = ['aead_aes256_gcm_rtpsize', 'aead_xchacha20_poly1305_rtpsize', 'xsalsa20_poly1305'];

function generate() {
  const out = [];
  for (const mode of modes) {
    const key = bytes(`key/${mode}`, 32);
    for (const v of cases()) {
      // The legacy mode has no counter: its nonce is the RTP header.
      if (mode === 'xsalsa20_poly1305' && v.name === 'counter wraps') continue;
      const packet = seal(mode, key, v);
      const unpadded = unpad(packet, v.payload);
      out.push({
        name: `${mode}/${v.name}`,
        mode,
        key: key.toString('hex'),
        counter: v.counter >>> 0,
        header: rtpHeader(v).toString('hex'),
        extension_body: v.extension ? v.extension.body.toString('hex') : '',
        sealed_payload: v.payload.toString('hex'),
        payload: unpadded.toString('hex'),
        marker: v.marker,
        payload_type: v.pt,
        sequence: v.seq,
        timestamp: v.ts,
        ssrc: v.ssrc,
        csrcs: v.csrcs,
        packet: packet.toString('hex'),
      });
    }
  }
  return out;
}

async function main() {
  await sodium.ready;
  const cmd = process.argv[2];
  if (cmd === 'generate') {
    process.stdout.write(JSON.stringify(generate(), null, 1) + '\n');
    return;
  }
  if (cmd === 'open') {
    const input = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
    const out = input.map(({ mode, key, packet }) => {
      try {
        const r = open(mode, Buffer.from(key, 'hex'), Buffer.from(packet, 'hex'));
        return { ok: true, payload: r.payload.toString('hex'), extension: r.extension.toString('hex') };
      } catch (e) {
        return { ok: false, error: String(e.message || e) };
      }
    });
    process.stdout.write(JSON.stringify(out) + '\n');
    return;
  }
  process.stderr.write('usage: node vectors.js generate|open\n');
  process.exit(2);
}

main().catch((e) => { process.stderr.write(String(e.stack || e) + '\n'); process.exit(1); });
