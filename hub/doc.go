// Package hub is the edge's live state and event stream. It applies the worker's event batches exactly
// once by position, keeps the projection of rooms and their members, keeps a history of recent events
// so that clients can resume, and fans every event out to this instance's WebSocket subscribers.
//
// The Caddy module coven_events (webhook ingest) calls [Hub.Ingest]; coven_ws (the browser stream)
// calls [Hub.Subscribe] with a [Conn] over its WebSocket; the rooms API and the health endpoint read
// [Hub.Snapshot], [Hub.Room], [Hub.Stats] and [Hub.Health]. None of them import Caddy types from here.
//
// # Positions
//
// Every event has a position (epoch, seq). The hub holds the position of the last event it applied and
// applies each position once: a batch already held is skipped (acknowledged again, since the worker
// retries), an overlapping batch applies only its new tail, and a batch that does not continue what the
// hub holds is refused with [*SnapshotRequiredError] so that the worker sends a snapshot event, which
// replaces the projection and may start a new epoch. [Admit] states these rules in one place.
//
// # Delivery
//
// Each event is encoded once into a frame (its canonical JSON) shared read-only by every subscriber,
// and framed once as a WebSocket text frame for the Conns that take frames ([FrameConn]).
// Subscribers are partitioned over a few fan-out workers (shards). A shard appends each delivery (the
// new events of a batch, shared) to each of its subscribers' bounded queues and, for a subscriber with
// no write in flight, writes the first message itself without waiting ([FrameConn.WriteFrameNow]);
// what the socket does not take at once, and any Conn that is not a FrameConn, goes to one
// short-lived writer goroutine that drains the queue, joining up to MaxCoalesce waiting frames with
// '\n' into one WebSocket message, and exits when the queue is empty. A fan-out starts at a random
// subscriber of the shard. An idle subscriber therefore costs no goroutine of the hub's, and a client
// that fell behind costs one write per batch of frames rather than one per frame; the delivery path
// allocates nothing. The publisher never waits for a subscriber: QueueLength frames left unwritten,
// or a write longer than WriteTimeout, evicts that subscriber with close code 4008, and the close
// happens off the delivery path.
//
// # Brokers
//
// A [Broker] decides, atomically for every edge instance that shares it, which events of a batch are
// new (the sequencing step), and delivers the new events in order to every attached hub through its
// [Sink]. Without one, each hub uses a private [MemoryBroker], which admits against its own position
// and delivers synchronously.
//
// A Redis broker fits the same interface without reshaping the hub:
//
//   - Publish runs one Lua script that reads the shared position, applies the rules of [Admit]
//     (restated in Lua, or [Admit] itself inside a WATCH/MULTI transaction), appends
//     the new events' frames ([Record.Frame]) to a stream capped at the history size, and stores the new
//     position, all atomically; it answers the counts, or the expected position for
//     [*SnapshotRequiredError]. A connection failure is reported wrapped in [ErrUnavailable].
//   - Each instance reads the stream from the last entry it delivered (XREAD, with pub/sub at most as a
//     wake-up), rebuilds records with [NewRecord] and hands them to its hub's [Sink.Apply]. Every
//     instance thus delivers every event once to its local subscribers, whichever instance took the
//     webhook, and frames are encoded once for the whole cluster.
//   - The projection lives in Redis as a checkpoint: instances store [Sink.State] (rooms and position)
//     after snapshot events and every few hundred events. An instance attaching late loads the latest
//     checkpoint and the stream entries up to it as history ([Sink.Restore]), then applies the entries
//     after it and follows the stream. If it ever finds its last entry trimmed away, it restores again;
//     the hub then closes its subscribers with 1012 so that they resume from the restored history.
//   - Err reports the connection state, which feeds [Hub.Health]; [Sink.BrokerStatus] tells the hub when
//     delivery stops and resumes, and the hub tells its subscribers with a status frame.
//
// The package redisbroker is that broker.
package hub
