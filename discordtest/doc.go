// Package discordtest is a Discord emulator: the REST API, the gateway WebSocket and a control API,
// served over real HTTP on one address, with a small world model (guilds, channels, users, voice
// states) and faults on demand.
//
// No machine of this project reaches Discord, so every test of the worker, the edge and the voice
// client, and the sandbox that runs the whole stack, talks to this emulator instead. It follows
// Discord's documented behaviour and what real third-party clients (discordgo, @discordjs/ws and
// @discordjs/rest) expect, rather than what the project's own client happens to send: routes under
// /api, /api/v9 and /api/v10 with Discord's error bodies, rate-limit headers and buckets; gateway v9
// and v10 with JSON encoding, heartbeats, identify validation and its close codes, resume with
// replay, op 7 and op 9, per-message zlib and zlib-stream transport compression. The bot is an
// ordinary member whose permissions come from its roles and the channels' overwrites, computed
// and enforced as Discord does (see permissions.go). docs/emulator.md lists what the emulator
// models and what it does not.
//
// Tests drive it through Go methods on [*Server] (add users, move them between voice channels,
// drop a session's TCP connection, stop heartbeat ACKs, storm REST with 429s, ...) and read back its
// truth (channels, voice states, counters, the ops each session sent). The same control API is served
// over HTTP under /_emulator/ for the sandbox's web page and for tests not written in Go, protected by
// its own token.
//
// The voice side (voice gateway v8, UDP and DAVE) plugs in through [VoiceBackend]: the gateway hands
// out voice grants on op 4, and a voice server checks them.
package discordtest
