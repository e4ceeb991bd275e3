// Package rooms is the rooms REST API of the edge: people create, list, read and delete rooms (voice
// channels under the configured Discord category) over HTTP, and the edge carries the changes to
// Discord with the bot token.
//
// [API] routes requests and answers with a [Response] that the Caddy module coven_rooms writes; the
// verified caller ([Caller]) comes from coven_jwt. [Service] holds the rules:
//
//   - reads come from the hub's projection of the rooms ([Directory]), which the worker keeps in step
//     with Discord, so listing rooms costs Discord nothing;
//   - creation and deletion go to Discord through package discordrest, within the request's deadline;
//   - a room's owner is recorded in Discord itself, as a member permission overwrite carrying
//     [OwnerPermissions] ([OwnerID] reads it back), so ownership survives restarts and the worker
//     can report it as owner_id;
//   - only the owner, or a caller the configuration calls an administrator, may delete a room, and no
//     channel outside the category is ever read or deleted: it is answered as not found;
//   - per-user limits (rooms owned at once, creations per window) and Idempotency-Key replays keep
//     retries and abuse from turning into rooms.
package rooms
