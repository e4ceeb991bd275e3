// An independent Discord client (discord.js's @discordjs/ws and @discordjs/rest) run by the Go
// tests against the emulator, to check that a third-party implementation of the protocol works
// with it: discovery over REST, identify, heartbeats, resume, zlib-stream, rate-limit buckets.
//
// Environment:
//   EMULATOR_API    REST base, e.g. http://127.0.0.1:PORT/api
//   DISCORD_TOKEN   bot token (never printed)
//   COMPRESSION     "zlib-stream" for transport compression, anything else for none
//   INTENTS         gateway intents (default 129: GUILDS | GUILD_VOICE_STATES)
//   TIMEOUT_MS      the script exits on its own after this long (default 60000)
//
// It reports what it sees as JSON lines on stdout, and takes JSON line commands on stdin:
//   {"cmd":"create_channel","guild_id":"...","name":"...","type":2}   create over REST
//   {"cmd":"exit"}                                                     close with 1000 and exit
// End of stdin also makes it exit.

import { createInterface } from 'node:readline';
import { REST } from '@discordjs/rest';
import { CompressionMethod, WebSocketManager, WebSocketShardEvents } from '@discordjs/ws';

const api = process.env.EMULATOR_API;
const token = process.env.DISCORD_TOKEN;
if (!api || !token) {
  process.stderr.write('EMULATOR_API and DISCORD_TOKEN are required\n');
  process.exit(2);
}

function report(event) {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const rest = new REST({ api, version: '10' }).setToken(token);
rest.on('rateLimited', (info) => {
  report({ event: 'rate_limited', route: info.route, retry_after: info.retryAfter, global: info.global, scope: info.scope });
});

const manager = new WebSocketManager({
  token,
  intents: Number(process.env.INTENTS ?? 129),
  rest,
  compression: process.env.COMPRESSION === 'zlib-stream' ? CompressionMethod.ZlibNative : null,
});

manager.on(WebSocketShardEvents.Hello, () => report({ event: 'hello' }));
manager.on(WebSocketShardEvents.Ready, (data) => {
  report({ event: 'ready', session_id: data.session_id, resume_gateway_url: data.resume_gateway_url, v: data.v });
});
manager.on(WebSocketShardEvents.Resumed, () => report({ event: 'resumed' }));
manager.on(WebSocketShardEvents.Closed, (code) => report({ event: 'closed', code }));
manager.on(WebSocketShardEvents.HeartbeatComplete, (stats) => report({ event: 'heartbeat', latency: stats.latency }));
manager.on(WebSocketShardEvents.Error, (error) => report({ event: 'error', message: String(error?.message ?? error) }));
manager.on(WebSocketShardEvents.Debug, (message) => {
  if (process.env.JSCLIENT_DEBUG) {
    process.stderr.write(`debug: ${message}\n`);
  }
  const replayed = /Resumed and replayed (\d+) events/.exec(message);
  if (replayed) {
    report({ event: 'replayed', count: Number(replayed[1]) });
  }
});
manager.on(WebSocketShardEvents.Dispatch, (payload) => {
  const d = payload.d ?? {};
  report({ event: 'dispatch', t: payload.t, s: payload.s, id: d.id, user_id: d.user_id, channel_id: d.channel_id });
});

let exiting = false;
async function exit(code) {
  if (exiting) {
    return;
  }
  exiting = true;
  try {
    await manager.destroy({ code: 1000, reason: 'done' });
  } catch (error) {
    report({ event: 'error', message: String(error?.message ?? error) });
  }
  report({ event: 'exit' });
  process.exit(code);
}

const timeout = setTimeout(() => {
  report({ event: 'error', message: 'timed out' });
  void exit(3);
}, Number(process.env.TIMEOUT_MS ?? 60000));
timeout.unref();

async function command(line) {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch {
    report({ event: 'error', message: `bad command: ${line}` });
    return;
  }
  switch (cmd.cmd) {
    case 'create_channel':
      try {
        const channel = await rest.post(`/guilds/${cmd.guild_id}/channels`, {
          body: { name: cmd.name, type: cmd.type ?? 2, parent_id: cmd.parent_id },
          reason: cmd.reason,
        });
        report({ event: 'rest_created', id: channel.id, name: channel.name, type: channel.type });
      } catch (error) {
        report({ event: 'rest_error', status: error.status, code: error.code, message: error.message });
      }
      break;
    case 'exit':
      await exit(0);
      break;
    default:
      report({ event: 'error', message: `unknown command ${cmd.cmd}` });
  }
}

const input = createInterface({ input: process.stdin });
input.on('line', (line) => void command(line));
input.on('close', () => void exit(0));

try {
  await manager.connect();
  report({ event: 'connected', shards: await manager.getShardCount() });
} catch (error) {
  report({ event: 'error', message: String(error?.message ?? error) });
  await exit(1);
}
