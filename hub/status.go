package hub

// The edge's own link to its broker is told to subscribers with a control frame, distinct from the
// system.status event (the worker's Discord link), so that the event contract is unchanged:
// {"type":"status","broker":"unavailable"} when the broker stops delivering, and
// {"type":"status","broker":"ok"} when it delivers again. A client that connects while the broker is
// unavailable gets the first right after its hello. The frames are shared, like event frames.
var (
	brokerUnavailableFrame = &Record{frame: []byte(`{"type":"status","broker":"unavailable"}`)}
	brokerOKFrame          = &Record{frame: []byte(`{"type":"status","broker":"ok"}`)}
)

// BrokerStatus sends every subscriber a status frame when the broker's availability changes, in order
// with the events. Repeated reports of the same state send nothing.
func (s *hubSink) BrokerStatus(available bool) {
	h := (*Hub)(s)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state.Load() == stateClosed || h.brokerDown == !available {
		return
	}
	h.brokerDown = !available
	frame := brokerOKFrame
	if !available {
		frame = brokerUnavailableFrame
	}
	run := []*Record{frame}
	for _, sh := range h.shards {
		sh.push(shardOp{records: run})
	}
}
