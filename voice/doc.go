// Package voice is a Discord voice client: the voice gateway (v8, over WebSockets), the UDP media
// transport with its encryption, and RTP for Opus audio and VP8 video.
//
// The worker uses it to take part in a voice channel once its main gateway session (discordgo) has
// joined one: discordgo's ChannelVoiceJoinManual sends op 4, the main gateway answers with
// VOICE_STATE_UPDATE (the session ID) and VOICE_SERVER_UPDATE (endpoint and token), and the worker
// hands both to [Dial] as a [ServerInfo]. From then on a [Conn] keeps the voice session alive on its
// own: heartbeats, resume after a dropped connection (with the server's buffered replay), a fresh
// identify when the session is gone, and a clear terminal error when Discord says not to come back.
//
// Sending: [Conn.PlayOpus] paces pre-encoded Opus frames (from an Ogg Opus file, see
// [OggOpusReader]) every 20 ms against a monotonic schedule; [Conn.PlayVP8] sends VP8 frames (from
// an IVF file, see [IVFReader]) at 90 kHz. Receiving: packets are decrypted, ordered per sender by a
// small [JitterBuffer] that counts loss, mapped to users through the voice gateway's events, and
// handed to a [MediaHandler] — [Recorder] writes one Ogg Opus and one IVF file per user and decodes
// audio to PCM on request.
//
// Transport encryption ([Sealer], [Opener]) supports aead_aes256_gcm_rtpsize (preferred),
// aead_xchacha20_poly1305_rtpsize (always offered by Discord) and, only when asked for, the
// discontinued xsalsa20_poly1305. The per-packet path allocates nothing in steady state.
//
// End-to-end encryption (DAVE, package [github.com/spellcoven/gateway/voice/dave]) is on by
// default, as Discord requires outside stage channels since March 2026: identify announces
// max_dave_protocol_version 1, the connection feeds the voice gateway's DAVE opcodes (21-31,
// binary and JSON) and clients connect/disconnect to a [dave.Session] per voice session, and
// frames are encrypted between the codec and the transport ([FrameEncryptor] /
// [FrameDecryptor] replace it when set). [Conn.DAVE] exposes the session (privacy and
// verification codes, epoch, members) and [E2EEEvent] reports its changes.
// [Config.TransportOnly] turns it off for stage channels.
package voice
