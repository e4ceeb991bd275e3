package hub

import (
	"time"

	"github.com/spellcoven/gateway/event"
)

// Stats are the hub's counters since New, for Prometheus collectors and the health endpoint.
type Stats struct {
	Subscribers int64          // open subscriptions
	Ingested    uint64         // events applied (from any instance, through the broker)
	Skipped     uint64         // events this instance received again and skipped as already held
	Delivered   uint64         // frames written to subscribers: events, hellos and control frames
	Messages    uint64         // socket writes; Delivered/Messages is the average coalescing
	Evicted     uint64         // subscribers closed as too slow (4008)
	LastIngest  time.Time      // when this instance last accepted a batch; zero before the first
	Position    event.Position // of the last event applied
}

// Stats returns the current counters. Counters are read one by one, not as one atomic snapshot.
func (h *Hub) Stats() Stats {
	st := Stats{
		Subscribers: h.subscribers.Load(),
		Ingested:    h.ingested.Load(),
		Skipped:     h.skipped.Load(),
		Evicted:     h.evicted.Load(),
		LastIngest:  unixNanoTime(h.lastIngest.Load()),
	}
	for _, sh := range h.shards {
		st.Delivered += sh.delivered.Load()
		st.Messages += sh.messages.Load()
	}
	h.mu.Lock()
	st.Position = h.last
	h.mu.Unlock()
	return st
}

// Broker states reported by Health.
const (
	BrokerOK          = "ok"
	BrokerUnavailable = "unavailable"
)

// Health is the hub's state for the health endpoint.
type Health struct {
	// OK is true when the hub is running and its broker can publish and deliver.
	OK bool `json:"ok"`
	// Broker is BrokerOK or BrokerUnavailable.
	Broker string `json:"broker"`
	// BrokerError says why the broker is unavailable; it never carries credentials.
	BrokerError string `json:"broker_error,omitempty"`
	// Discord is the worker's Discord link state from the last system.status event: "up",
	// "reconnecting", "down", or "" before the first.
	Discord string `json:"discord"`
	// LastDelivery is when a fan-out worker last handed events to subscribers; zero before the first.
	LastDelivery time.Time `json:"last_delivery"`
}

// Health returns the hub's health.
func (h *Hub) Health() Health {
	hl := Health{Broker: BrokerOK}
	if err := h.broker.Err(); err != nil {
		hl.Broker, hl.BrokerError = BrokerUnavailable, err.Error()
	}
	hl.OK = h.running() == nil && hl.Broker == BrokerOK
	h.mu.Lock()
	hl.Discord = h.proj.discord
	h.mu.Unlock()
	var last int64
	for _, sh := range h.shards {
		last = max(last, sh.lastDelivery.Load())
	}
	hl.LastDelivery = unixNanoTime(last)
	return hl
}

func unixNanoTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
