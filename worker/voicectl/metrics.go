package voicectl

import (
	"github.com/prometheus/client_golang/prometheus"
)

// collectors are the voice metrics, coven_worker_voice_*.
type collectors struct {
	connected prometheus.Gauge
	joins     *prometheus.CounterVec
	ends      *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	// forward is table view's forwarding delay: a frame or voice packet received to written
	// to every viewer of its member.
	forward prometheus.Histogram
}

// newCollectors creates the collectors and registers them, with counters read from totals and
// the call's end-to-end encryption from e2ee at scrape time, on reg when it is not nil.
func newCollectors(reg prometheus.Registerer, totals func() CallStats, e2ee func() bool, table func() (sessions int, on bool)) (*collectors, error) {
	const ns, sub = "coven_worker", "voice"
	m := &collectors{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "connected",
			Help: "1 while the bot is in a room's call with its voice connection established."}),
		joins: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "joins_total",
			Help: "Joins asked for, by result: ok or the error code."}, []string{"result"}),
		ends: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "calls_ended_total",
			Help: "Calls ended, by reason (left, disconnected, moved, room_deleted, voice_closed, shutdown)."}, []string{"reason"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "control_rejected_total",
			Help: "Control requests refused before reaching the controller, by reason."}, []string{"reason"}),
		forward: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: "table", Name: "forward_seconds",
			Help:    "Table view: from a member's frame or voice packet received to its packets written to every viewer of the member.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, 1}}),
	}
	if reg == nil {
		return m, nil
	}
	counter := func(name, help string, read func(CallStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help},
			func() float64 { return float64(read(totals())) })
	}
	for _, c := range []prometheus.Collector{
		m.connected, m.joins, m.ends, m.rejected, m.forward,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: "table", Name: "sessions",
			Help: "Table view's viewing sessions (0 when table view is off)."},
			func() float64 { n, _ := table(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "e2ee_active",
			Help: "1 while the call's media is end-to-end encrypted (DAVE); 0 when idle, transport-only or waiting for the group."},
			func() float64 {
				if e2ee() {
					return 1
				}
				return 0
			}),
		counter("packets_sent_total", "RTP packets sent into calls.", func(s CallStats) uint64 { return s.PacketsSent }),
		counter("send_dropped_total", "Packets not sent because the voice connection was recovering.", func(s CallStats) uint64 { return s.SendDropped }),
		counter("packets_received_total", "RTP packets received from other users and decrypted.", func(s CallStats) uint64 { return s.PacketsReceived }),
		counter("packets_lost_total", "Audio packets of other users lost on the way, as their sequence numbers showed.", func(s CallStats) uint64 { return s.PacketsLost }),
		counter("undecryptable_total", "Received packets that failed authentication.", func(s CallStats) uint64 { return s.Undecryptable }),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *collectors) setConnected(up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.connected.Set(v)
}
