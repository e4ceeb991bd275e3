package hub

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/spellcoven/gateway/event"
)

// hubSink is the Hub as its broker sees it. A separate type keeps Apply and Restore out of the Hub's
// own method set, where adapters could call them by mistake.
type hubSink Hub

// Apply applies records to the projection and the history and hands them to every shard, in one
// critical section with Subscribe (see Hub.mu).
func (s *hubSink) Apply(records []*Record) {
	h := (*Hub)(s)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state.Load() == stateClosed {
		return
	}
	// A broker delivers each event once; a record already held would be a broker bug, and applying it
	// twice would corrupt the projection, so leading ones are dropped.
	for len(records) > 0 && h.holds(records[0].pos) {
		records = records[1:]
	}
	if len(records) == 0 {
		return
	}
	for _, r := range records {
		h.applyLocked(r)
	}
	h.hello = nil
	for _, sh := range h.shards {
		sh.push(shardOp{records: records})
	}
}

// holds reports whether the event at pos is already applied.
func (h *Hub) holds(pos event.Position) bool {
	return !h.last.IsZero() && pos.Epoch == h.last.Epoch && pos.Seq <= h.last.Seq
}

func (h *Hub) applyLocked(r *Record) {
	follows := !h.last.IsZero() && r.pos.Epoch == h.last.Epoch && r.pos.Seq == h.last.Seq+1
	if !follows {
		if r.typ != event.Snapshot {
			// Admit lets only snapshots break the run; keep the projection usable and make sure no
			// client resumes across the hole.
			h.logger.Error("broker delivered an event that does not follow the last one",
				zap.Stringer("last", h.last), zap.Stringer("event", r.pos), zap.String("type", string(r.typ)))
		}
		h.history.reset()
	}
	if mismatch := h.proj.apply(r); mismatch != "" {
		if ce := h.logger.Check(zapcore.DebugLevel, "event does not fit the projection"); ce != nil {
			ce.Write(zap.Stringer("position", r.pos), zap.String("type", string(r.typ)), zap.String("applied", mismatch))
		}
	}
	h.history.push(r)
	h.last = r.pos
	h.ingested.Add(1)
}

// Restore replaces the state. Subscribers following another position are closed with 1012: their
// streams cannot continue into the restored state, and they resume from it.
func (s *hubSink) Restore(st State) {
	h := (*Hub)(s)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state.Load() == stateClosed {
		return
	}
	h.proj.replace(st.Rooms)
	h.proj.discord = st.Discord
	h.history.reset()
	// Keep the newest unbroken run of history that ends at the restored position.
	from := len(st.History)
	for from > 0 {
		r := st.History[from-1]
		want := st.Position
		if from < len(st.History) {
			want = st.History[from].pos
			want.Seq--
		}
		if r.pos != want {
			break
		}
		from--
	}
	for _, r := range st.History[max(from, len(st.History)-h.cfg.HistorySize):] {
		h.history.push(r)
	}
	changed := st.Position != h.last
	h.last = st.Position
	h.hello = nil
	if changed {
		for _, sh := range h.shards {
			sh.push(shardOp{restart: true})
		}
	}
}

// State returns the hub's state; History shares the records, which are immutable.
func (s *hubSink) State() State {
	h := (*Hub)(s)
	h.mu.Lock()
	defer h.mu.Unlock()
	return State{Position: h.last, Rooms: h.proj.snapshot(), Discord: h.proj.discord, History: h.history.records()}
}

var _ Sink = (*hubSink)(nil)
