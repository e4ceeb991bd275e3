// Package voiceserver is the Discord emulator's voice server: the voice gateway (v8) over
// WebSockets and the UDP media server, on 127.0.0.1. It implements discordtest.VoiceBackend, so
// a test or the sandbox plugs it into the emulator through discordtest.Config.Voice; when the
// bot sends op 4, the emulator asks it for an endpoint and a token, and it then accepts the
// voice identify that presents them.
//
// It follows Discord's voice protocol as the project's protocol notes describe it, written
// independently of the project's own client (package voice), whose transport ciphers it reuses
// only because those are checked against libsodium and Node's crypto: hello, identify checked
// against the grant (a wrong token closes with 4004), ready with SSRCs, address and modes, IP
// discovery, select protocol answered with a fresh random key in the chosen mode (an unknown
// mode closes with 4016), heartbeats with seq_ack, buffered resume with replay, speaking
// relays, clients connect and disconnect.
//
// Tests read back what the bot sent: every RTP packet is decrypted and recorded per SSRC with
// its arrival time, and every op per session. Emulated users (JoinUser) speak and send audio
// and video to the bot in whatever mode its session uses, with configurable loss and
// reordering. Faults on demand: close a session with any code, drop its TCP connection, stop
// heartbeat ACKs, invalidate a session, drop UDP either way.
package voiceserver
