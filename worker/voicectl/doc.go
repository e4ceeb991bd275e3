// Package voicectl puts the worker's bot in a room's voice call on request: it joins and leaves
// rooms, plays Ogg Opus files into the call, and records each member's audio (Ogg Opus) and
// video (IVF). The worker (package worker) runs one [Controller], feeds it the gateway's
// dispatches, and serves its control endpoint ([NewHandler]) on the listener of /healthz and
// /metrics; `coven-worker voice` drives that endpoint through a [Client].
//
// Joining follows Discord's protocol for bots whose library cannot do voice itself: op 4 on the
// main gateway (discordgo's ChannelVoiceJoinManual, through [Gateway]), then the bot's
// VOICE_STATE_UPDATE (the session id) and VOICE_SERVER_UPDATE (token and endpoint; a null
// endpoint means "wait for the next one"), then [voice.Dial]. The voice connection then keeps
// itself alive (resume, reconnect) as package voice decides from the close codes. The call ends
// when the bot leaves, when Discord takes it out of the room (its voice state moves or becomes
// null: kicked, moved, the room deleted), or when the voice connection stops for good (4014
// disconnected, 4016 unknown encryption mode, 4017 DAVE required, ...); [Status] says which.
//
// Every wait is bounded: the answer of the main gateway by [Config.JoinTimeout], the voice
// handshake by the voice configuration's HandshakeTimeout, and the control requests by the
// handler's limits. Files are read only under [Config.MediaDir] and recordings written only
// under [Config.RecordingsDir], through [os.Root], so a request cannot reach outside them.
//
// The control endpoint accepts only requests signed with the webhook secret, under the
// webhook scheme the worker delivers events with (package webhook). The signed content binds
// the method, the path, a fresh request id and the body, so that a signature is good for one
// request only: see package control.
package voicectl
