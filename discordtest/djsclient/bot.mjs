// A whole discord.js Client, run by the Go tests (discordtest/djsclient_test.go) against the
// emulator, as a new bot author would run it: login, the guild cache, channel changes, voice
// states, member fetches, API errors and resumes, seen through discord.js's own objects.
//
// Environment:
//   EMULATOR_API   REST base, e.g. http://127.0.0.1:PORT/api
//   DISCORD_TOKEN  bot token (never printed)
//   INTENTS        gateway intents (a number)
//   TIMEOUT_MS     the script exits on its own after this long (default 60000)
//
// It reports what it sees as JSON lines on stdout, and takes JSON line commands on stdin, each
// answered by a {"event":"result","cmd":...} line (ok, or the error's name, error_code and message):
//   {"cmd":"create_channel","name":"...","type":2,"parent_id":"..."}
//   {"cmd":"edit_channel","id":"...","name":"..."}
//   {"cmd":"delete_channel","id":"..."}
//   {"cmd":"fetch_members","time":2000}     guild.members.fetch() with a bounded wait
//   {"cmd":"exit"}                          destroy the client and exit
// End of stdin also makes it exit.

import { createInterface } from 'node:readline';
import { Client, Events } from 'discord.js';

const api = process.env.EMULATOR_API;
const token = process.env.DISCORD_TOKEN;
if (!api || !token) {
  process.stderr.write('EMULATOR_API and DISCORD_TOKEN are required\n');
  process.exit(2);
}

function report(event) {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const client = new Client({ intents: Number(process.env.INTENTS), rest: { api } });

client.once(Events.ClientReady, (c) => {
  const guilds = c.guilds.cache.map((g) => ({
    id: g.id,
    name: g.name,
    owner_id: g.ownerId,
    channels: g.channels.cache.size,
    members: g.members.cache.size,
    roles: g.roles.cache.size,
    me_roles: g.members.me?.roles.cache.size ?? 0,
    voice_states: g.voiceStates.cache.size,
  }));
  report({ event: 'ready', tag: c.user.tag, discriminator: c.user.discriminator, guilds });
});
for (const [name, t] of [[Events.ChannelCreate, 'create'], [Events.ChannelDelete, 'delete']]) {
  client.on(name, (ch) => report({ event: 'channel', t, id: ch.id, name: ch.name }));
}
client.on(Events.ChannelUpdate, (_, ch) => report({ event: 'channel', t: 'update', id: ch.id, name: ch.name }));
client.on(Events.VoiceStateUpdate, (before, after) => {
  report({ event: 'voice', user_id: after.id, from: before.channelId, to: after.channelId, name: after.member?.user.username });
});
client.on(Events.ShardResume, (id, replayed) => report({ event: 'resumed', shard: id, replayed }));
client.on(Events.ShardDisconnect, (e) => report({ event: 'disconnected', code: e.code }));
client.on(Events.Error, (error) => report({ event: 'error', message: String(error?.message ?? error) }));

function guild() {
  return client.guilds.cache.first();
}

const commands = {
  async create_channel(c) {
    const ch = await guild().channels.create({ name: c.name, type: c.type, parent: c.parent_id });
    return { id: ch.id, name: ch.name };
  },
  async edit_channel(c) {
    const ch = await guild().channels.cache.get(c.id).edit({ name: c.name });
    return { id: ch.id, name: ch.name };
  },
  async delete_channel(c) {
    const ch = await guild().channels.cache.get(c.id).delete();
    return { id: ch.id };
  },
  async fetch_members(c) {
    const members = await guild().members.fetch({ time: c.time });
    return { count: members.size };
  },
};

let exiting = false;
async function exit(code) {
  if (exiting) {
    return;
  }
  exiting = true;
  await client.destroy();
  report({ event: 'exit' });
  process.exit(code);
}

createInterface({ input: process.stdin }).on('line', async (line) => {
  let c;
  try {
    c = JSON.parse(line);
  } catch {
    report({ event: 'error', message: 'bad command line' });
    return;
  }
  if (c.cmd === 'exit') {
    await exit(0);
    return;
  }
  const run = commands[c.cmd];
  if (!run) {
    report({ event: 'error', message: `unknown command ${c.cmd}` });
    return;
  }
  try {
    report({ event: 'result', cmd: c.cmd, ok: true, ...(await run(c)) });
  } catch (error) {
    report({ event: 'result', cmd: c.cmd, ok: false, name: error?.name, error_code: String(error?.code), status: error?.status, message: String(error?.message ?? error) });
  }
}).on('close', () => exit(0));

setTimeout(() => {
  report({ event: 'error', message: 'timed out' });
  exit(1);
}, Number(process.env.TIMEOUT_MS ?? 60000)).unref();

client.login(token).catch((error) => {
  report({ event: 'error', message: `login: ${error?.message ?? error}` });
  exit(1);
});
