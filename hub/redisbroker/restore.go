package redisbroker

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
)

// snapshotOfRedis is what Redis holds, read in one transaction.
type snapshotOfRedis struct {
	head          head
	hasHead       bool
	ck            checkpoint
	hasCheckpoint bool
	entries       []entry
}

// planKind is how an instance catches up with what Redis holds.
type planKind int

const (
	// planContinue: the sink holds an event still in the stream; apply the entries after it.
	planContinue planKind = iota
	// planRestore: restore the sink to a checkpoint or a snapshot event, then apply the entries after.
	planRestore
	// planSeed: Redis holds nothing usable but the sink holds a state; write it to Redis.
	planSeed
	// planReset: Redis holds nothing usable and neither does the sink; forget what Redis holds.
	planReset
)

// catchUp is the outcome of planning: what to do, and where reading continues.
type catchUp struct {
	kind  planKind
	state hub.State     // planRestore
	tail  []*hub.Record // planContinue, planRestore: entries to apply, in order
	// lastID is the entry after which reading continues (planContinue, planRestore).
	lastID streamID
	// headID is the head's entry id as seen, "" for none (planSeed, planReset): they act only if the
	// head is still that one.
	headID string
}

// plan decides how a sink holding local catches up with what Redis holds. It prefers, in order: going
// on from the sink's own position when the stream still holds it (no client notices anything);
// writing the sink's state back when it is ahead of the head in the same epoch (the highest position
// wins);
// restoring from the checkpoint and replaying the entries after it; restoring from the last snapshot
// event in the stream; and, when Redis holds nothing usable, writing the sink's state to Redis.
func plan(rs snapshotOfRedis, local hub.State) catchUp {
	entries := rs.entries
	lastID := func(otherwise streamID) streamID {
		if n := len(entries); n > 0 {
			return entries[n-1].id
		}
		return otherwise
	}
	if !rs.hasHead {
		if !local.Position.IsZero() {
			return catchUp{kind: planSeed}
		}
		return catchUp{kind: planRestore, lastID: lastID(zeroID)}
	}
	headID, _ := parseStreamID(rs.head.id)
	if !local.Position.IsZero() {
		if local.Position == rs.head.pos {
			return catchUp{kind: planContinue, lastID: lastID(headID)}
		}
		for i := len(entries) - 1; i >= 0; i-- {
			if entries[i].rec.Position() == local.Position {
				return catchUp{kind: planContinue, tail: records(entries[i+1:]), lastID: lastID(headID)}
			}
		}
		if local.Position.Epoch == rs.head.pos.Epoch && local.Position.Seq > rs.head.pos.Seq {
			// Redis is behind what this instance applied from it: it lost events it had admitted (it
			// came back empty, and an instance that was behind wrote its state back first). The
			// highest position wins: write this state over it, if the head is still the one seen,
			// rather than rewind and take back events the worker was told were applied.
			return catchUp{kind: planSeed, headID: rs.head.id}
		}
	}
	if rs.hasCheckpoint {
		if history, tail, ok := afterCheckpoint(rs.ck, rs.head, entries); ok {
			st := hub.State{Position: rs.ck.pos, Rooms: rs.ck.rooms, Discord: rs.ck.discord, History: history}
			return catchUp{kind: planRestore, state: st, tail: tail, lastID: lastID(rs.ck.id)}
		}
	}
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].rec.Type() == event.Snapshot {
			// The Discord state at the head is the one after the tail, which is what the sink ends with.
			st := hub.State{Discord: rs.head.discord}
			return catchUp{kind: planRestore, state: st, tail: records(entries[i:]), lastID: lastID(headID)}
		}
	}
	if !local.Position.IsZero() {
		return catchUp{kind: planSeed, headID: rs.head.id}
	}
	return catchUp{kind: planReset, headID: rs.head.id}
}

// afterCheckpoint splits entries at the checkpoint: the entries up to it are history, the ones after
// it the tail to replay. ok is false when the entries after the checkpoint are not all there.
func afterCheckpoint(ck checkpoint, h head, entries []entry) (history, tail []*hub.Record, ok bool) {
	for k, e := range entries {
		if e.id == ck.id {
			if e.rec.Position() != ck.pos {
				return nil, nil, false
			}
			return records(entries[:k+1]), records(entries[k+1:]), true
		}
		if ck.id.less(e.id) {
			// The checkpoint's own entry was trimmed away: usable only if nothing after it was.
			if k > 0 || !follows(ck.pos, e.rec) {
				return nil, nil, false
			}
			return nil, records(entries), true
		}
	}
	// Nothing after the checkpoint: usable if it is at the head.
	return nil, nil, len(entries) == 0 && ck.pos == h.pos
}

func records(entries []entry) []*hub.Record {
	out := make([]*hub.Record, len(entries))
	for i, e := range entries {
		out[i] = e.rec
	}
	return out
}

// readRedis reads the head, the checkpoint and the whole stream in one transaction.
func (b *Broker) readRedis(ctx context.Context, c redis.UniversalClient, skip func(string, error)) (snapshotOfRedis, error) {
	var headCmd, ckCmd *redis.MapStringStringCmd
	var streamCmd *redis.XMessageSliceCmd
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		headCmd = p.HGetAll(ctx, b.keys.head)
		ckCmd = p.HGetAll(ctx, b.keys.checkpoint)
		streamCmd = p.XRange(ctx, b.keys.stream, "-", "+")
		return nil
	})
	if err != nil {
		return snapshotOfRedis{}, err
	}
	var rs snapshotOfRedis
	if rs.head, rs.hasHead, err = parseHead(headCmd.Val()); err != nil {
		skip("head", err)
	}
	if rs.ck, rs.hasCheckpoint, err = parseCheckpoint(ckCmd.Val()); err != nil {
		skip("checkpoint", err)
	}
	rs.entries = decodeEntries(streamCmd.Val(), skip)
	return rs, nil
}

// seed writes st to Redis if the head is still headID ("" for none). It returns the id of the last
// entry written, or ok false when the head changed meanwhile.
func (b *Broker) seed(ctx context.Context, c redis.UniversalClient, headID string, st hub.State) (last streamID, ok bool, err error) {
	rooms, err := json.Marshal(roomsOf(st))
	if err != nil {
		return streamID{}, false, fmt.Errorf("redisbroker: encoding the projection: %w", err)
	}
	history := unbrokenHistory(st, b.cfg.StreamLength)
	args := make([]any, 0, 6+len(history))
	args = append(args, headID, b.cfg.StreamLength, st.Position.Epoch, strconv.FormatUint(st.Position.Seq, 10), st.Discord, rooms)
	for _, r := range history {
		args = append(args, r.Frame())
	}
	id, err := seedScript.Run(ctx, c, b.keys.list(), args...).Text()
	if err == redis.Nil {
		return streamID{}, false, nil
	}
	if err != nil {
		return streamID{}, false, err
	}
	last, err = parseStreamID(id)
	return last, err == nil, err
}

// reset forgets what Redis holds if the head is still headID.
func (b *Broker) reset(ctx context.Context, c redis.UniversalClient, headID string) error {
	return resetScript.Run(ctx, c, b.keys.list(), headID).Err()
}

// unbrokenHistory returns the newest records of st's history that lead without a hole to st.Position,
// at most max of them.
func unbrokenHistory(st hub.State, max int) []*hub.Record {
	from, want := len(st.History), st.Position
	for from > 0 && len(st.History)-from < max && want.Seq > 0 && st.History[from-1].Position() == want {
		from--
		want.Seq--
	}
	return st.History[from:]
}

// roomsOf returns the projection of st as a snapshot payload, never nil.
func roomsOf(st hub.State) *event.SnapshotPayload {
	if st.Rooms == nil {
		return &event.SnapshotPayload{Rooms: []event.RoomState{}}
	}
	return st.Rooms
}
