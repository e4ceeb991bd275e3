// Starts the client library against a fake stream server for one test, and stops both when it ends.

import WebSocket from 'ws';

import { CovenClient } from '../coven-client.js';
import { FakeStreamServer } from './fake-stream-server.js';

/**
 * Starts a FakeStreamServer and a CovenClient on it (not yet started) with fast retries and no pings,
 * unless options say otherwise. The token provider hands out "token-1", "token-2"... valid for an hour
 * (or as tokenLifetimeMs says) and records why it was asked in tokens.
 * @param {import('node:test').TestContext} t
 * @param {object} [options] CovenClient options, plus tokenLifetimeMs and tokenProvider overrides.
 */
export async function startClientAndServer(t, options = {}) {
  const server = await FakeStreamServer.start();
  const tokens = [];
  const { tokenLifetimeMs = 3_600_000, ...clientOptions } = options;
  const client = new CovenClient({
    url: server.url,
    WebSocket,
    tokenProvider: async (reason) => {
      tokens.push(reason);
      return { token: `token-${tokens.length}`, expiresAt: Date.now() + tokenLifetimeMs };
    },
    initialBackoffMs: 5,
    maxBackoffMs: 20,
    pingIntervalMs: 0,
    random: () => 0,
    ...clientOptions,
  });
  t.after(async () => {
    client.close();
    await server.close();
  });
  return { server, client, tokens };
}
