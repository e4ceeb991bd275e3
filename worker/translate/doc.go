// Package translate turns the Discord gateway's view of one guild into contract v1 events.
//
// A [Guild] mirrors what the worker needs of the configured guild: its rooms (voice channels, type 2,
// whose parent is the configured rooms category) and every member's voice state. Each dispatch the
// worker's gateway session receives (GUILD_CREATE, CHANNEL_CREATE/UPDATE/DELETE, VOICE_STATE_UPDATE)
// updates the mirror and yields the [Change]s that contract v1 carries for it; [Guild.Snapshot] gives
// every room with its members at any moment. The package does no I/O and keeps no clock: the worker's
// outbox gives each change its position and time.
//
// The rules, stated once here and tested case by case:
//
//   - A channel is a room while it is a voice channel under the rooms category. A channel that becomes
//     one (created there, moved in, or turned into a voice channel) is a room.created, followed by a
//     voice.joined for each member already in it; a room that stops being one (deleted, moved out) is a
//     room.deleted. Any other channel is ignored.
//   - A room.updated is emitted only when a field of the room changes (name, user limit, position,
//     owner); Discord sends CHANNEL_UPDATE for changes contract v1 does not carry, such as permissions.
//   - A member entering a room is a voice.joined; leaving voice, or moving to a channel that is not a
//     room, a voice.left; moving between rooms a voice.left then a voice.joined; a change of the mute,
//     deaf, video or stream flags, or of the member's names or avatar, within a room a voice.updated.
//   - Payloads are always valid for contract v1: names are cleaned (control characters removed, white
//     space trimmed, cut to the contract's lengths) rather than refused, since one odd channel name must
//     not stop every snapshot of the guild.
package translate
