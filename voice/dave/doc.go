// Package dave implements DAVE, Discord's audio and video end-to-end encryption, in pure Go:
// protocol version 1 (MLS ciphersuite 2: DHKEM P-256, AES-128-GCM, SHA-256, ECDSA P-256).
//
// Discord closes voice connections to non-stage channels that do not speak DAVE (close code
// 4017). Two sides use this package:
//
//   - The voice client (package voice) holds a [Session] per voice connection. It passes the
//     session description's dave_protocol_version to [Session.Start], the voice gateway's
//     clients_connect and client_disconnect events to [Session.ClientsConnect] and
//     [Session.ClientDisconnect], and every DAVE opcode (21-31) to [Session.HandleBinary] or
//     [Session.HandleJSON], sending back the [Message]s they return. Media goes through
//     [Session.EncryptFrame] after the encoder and [Session.DecryptFrame] before the decoder;
//     both are safe to call from the media goroutines while the gateway goroutine handles
//     opcodes, and neither allocates in steady state.
//   - The Discord emulator's voice server holds a [DeliveryService] per voice channel: the
//     MLS delivery service and external sender that Discord's voice gateway is. It turns
//     members' connects, key packages, commits, ready reports and disconnects into the
//     [Delivery]s to send, so that any number of members share one group.
//
// Underneath, internal/mls implements the subset of MLS (RFC 9420) that DAVE uses. Frames
// follow the DAVE whitepaper: the encrypted frame, an 8-byte truncated AES-GCM tag, the
// ULEB128 nonce and unencrypted ranges, the supplemental size and the 0xFAFA marker; keys
// come from a per-sender hash ratchet over MLS-Exporter("Discord Secure Frames v0",
// LE64(user ID), 16).
package dave
