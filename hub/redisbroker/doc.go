// Package redisbroker is the hub.Broker that lets several edge instances serve one stream of events
// through Redis. Any instance may take the worker's webhook; every instance delivers every event once to
// its own WebSocket clients, and a client may resume on any instance.
//
// The coven Caddy app builds one when configured with `broker redis`; tests and the benchmark build
// them directly. It does not import Caddy. Redis may be one primary (Config.URL), a primary with
// replicas that Redis Sentinel fails over (Config.Sentinel) or a Redis Cluster (Config.Cluster).
//
// # What lives in Redis
//
// Three keys, each named Config.KeyPrefix in braces and then its name. The braces make the prefix the
// keys' hash tag, so that in Redis Cluster they share one slot and a script may touch all three:
//
//   - {<prefix>}stream: a stream of event frames (hub.Record.Frame), one entry per event in admission
//     order, capped at Config.StreamLength entries. It is the history clients resume from.
//   - {<prefix>}head: the position of the last event admitted (epoch, seq), its stream entry id and the
//     Discord link state. Publish admits against it.
//   - {<prefix>}checkpoint: the projection (rooms and Discord state) at one stream entry, from which an
//     instance that starts late restores before replaying the entries after it.
//
// # Publishing
//
// Publish runs one Lua script that applies the rules of hub.Admit to the head, appends the new frames
// to the stream, moves the head and, for a snapshot event, writes the checkpoint, all atomically. Seqs
// are compared as decimal strings, so the whole uint64 range is exact. It then waits, briefly, until
// this instance has delivered what it published, so that an acknowledged batch is visible on the
// instance that acknowledged it.
//
// # Delivering
//
// Each attached hub has a reader goroutine, with a connection of its own, that blocks on XREAD from
// the last entry it delivered, rebuilds records from the frames and hands them to the hub's Sink in
// stream order. Every Config.CheckpointInterval events (default 1000) it stores the hub's projection as
// a newer checkpoint, so that a late instance replays at most that many events.
//
// # Losing Redis
//
// When the reader loses its connection, the broker reports itself unavailable (Err, and a status frame
// to every client through Sink.BrokerStatus); Publish fails with hub.ErrUnavailable, which the ingest
// answers with 503, so the worker keeps the events in its outbox. Clients stay connected. Once Redis
// answers again (after a failover: the promoted replica, which the failover or cluster client finds) the
// reader checks that the stream still continues what it delivered and goes on. If it
// does not (the stream was trimmed past it, or Redis came back empty), the reader restores the hub from
// the checkpoint and the stream, which closes clients with 1012 only when the position changed, so that
// they resume. A Redis that came back empty is seeded with the instance's own state (projection and
// history), so that the worker's next batch continues where it left off and nothing is lost.
package redisbroker
