// Package discordrest is the small Discord REST client of the rooms API: create, read and delete guild
// channels with a bot token, within Discord's limits and within the caller's deadline.
//
// The edge's rooms API (package rooms, Caddy module coven_rooms) answers people who are waiting, so
// every call here is bounded by its context's deadline: a wait that would pass it (a rate-limit reset,
// a retry_after, a backoff) is not started, and the call fails at once with the time after which a
// retry could succeed. discordgo's REST client cannot promise that: it retries 429s without bound and
// its limiter sleeps ignore the context. This client keeps to:
//
//   - the global limit (50 requests per second per bot by default), counted over any one-second window;
//   - the per-route buckets that Discord announces in X-RateLimit-* headers, keyed by bucket hash and
//     major parameter; a bucket not seen yet admits one request until its first answer tells its size;
//   - 429 answers: the body's retry_after (float seconds) is honoured, a global 429 pauses every route,
//     and repeated failures back off exponentially (1 s doubling to 32 s by default);
//   - Cloudflare's ban of clients that collect 10,000 invalid answers (401, 403, 429) in 10 minutes:
//     the client counts its own over a sliding window and refuses to call Discord well before that
//     (1,000 by default), and stops using a token that Discord rejected with 401;
//   - retries only where they cannot create twice: a POST is retried after a 429 or a failed
//     connection attempt (Discord never saw it), never after a 5xx or a broken answer.
//
// The bot token is sent in the Authorization header and nowhere else: it is never logged and never part
// of an error.
package discordrest
