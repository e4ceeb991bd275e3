// peer.js drives @snazzah/davey (an independent, OpenMLS-based DAVE implementation) for the
// Go interoperability tests. It reads one JSON request per line on stdin and answers one JSON
// line on stdout: {"id", "ok": true, ...results} or {"id", "error"}. Buffers travel as base64.
'use strict';
const readline = require('node:readline');
const davey = require('@snazzah/davey');

const sessions = new Map();
const b = (s) => Buffer.from(s ?? '', 'base64');
const s64 = (buf) => (buf ? Buffer.from(buf).toString('base64') : undefined);

function session(name) {
  const s = sessions.get(name);
  if (!s) throw new Error(`no session ${name}`);
  return s;
}

const handlers = {
  version: () => ({ version: davey.VERSION, protocol: davey.DAVE_PROTOCOL_VERSION }),
  new: (r) => {
    sessions.set(r.session, new davey.DAVESession(1, r.userId, r.channelId));
    return {};
  },
  reinit: (r) => {
    session(r.session).reinit(1, r.userId, r.channelId);
    return {};
  },
  setExternalSender: (r) => {
    session(r.session).setExternalSender(b(r.data));
    return {};
  },
  keyPackage: (r) => ({ data: s64(session(r.session).getSerializedKeyPackage()) }),
  processProposals: (r) => {
    const res = session(r.session).processProposals(r.opType, b(r.data), r.recognized ?? null);
    return { commit: s64(res.commit), welcome: s64(res.welcome) };
  },
  processCommit: (r) => {
    session(r.session).processCommit(b(r.data));
    return {};
  },
  processWelcome: (r) => {
    session(r.session).processWelcome(b(r.data));
    return {};
  },
  encrypt: (r) => ({ data: s64(session(r.session).encrypt(r.mediaType, r.codec, b(r.data))) }),
  decrypt: (r) => ({ data: s64(session(r.session).decrypt(r.userId, r.mediaType, b(r.data))) }),
  setPassthrough: (r) => {
    session(r.session).setPassthroughMode(r.mode, r.expiry ?? null);
    return {};
  },
  status: (r) => {
    const s = session(r.session);
    return {
      epoch: s.epoch === null || s.epoch === undefined ? -1 : Number(s.epoch),
      status: s.status,
      ready: s.ready,
      ownLeafIndex: s.ownLeafIndex,
      userIds: s.getUserIds(),
      epochAuthenticator: s64(s.getEpochAuthenticator()),
      privacyCode: s.voicePrivacyCode,
    };
  },
  pairwiseFingerprint: async (r) => ({
    data: s64(await davey.generatePairwiseFingerprint(0, b(r.localKey), r.localUserId, b(r.remoteKey), r.remoteUserId)),
  }),
  displayableCode: (r) => ({ code: davey.generateDisplayableCode(b(r.data), r.length, r.group) }),
};

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    process.stdout.write(JSON.stringify({ id: -1, error: `bad request: ${e.message}` }) + '\n');
    return;
  }
  let out;
  try {
    const h = handlers[req.cmd];
    if (!h) throw new Error(`unknown command ${req.cmd}`);
    out = { id: req.id, ok: true, ...(await h(req)) };
  } catch (e) {
    out = { id: req.id, error: String(e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
});
rl.on('close', () => process.exit(0));
