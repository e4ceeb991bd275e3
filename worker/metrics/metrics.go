// Package metrics holds the worker's Prometheus collectors, in a registry of their own that the
// worker serves on /metrics. The gateway session, the producer and the delivery loop count into
// them; gauges that read live state (outbox depth, dead letters) are registered by the worker with
// functions that read it at scrape time.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

const namespace = "coven_worker"

// Metrics are the worker's collectors. Create them with New; every field is ready to use.
type Metrics struct {
	// Registry holds every collector below, plus the Go runtime and process collectors.
	Registry *prometheus.Registry

	// DiscordEvents counts gateway dispatches received, by dispatch type (READY, VOICE_STATE_UPDATE...).
	DiscordEvents *prometheus.CounterVec
	// Produced counts events appended to the outbox, by event type.
	Produced *prometheus.CounterVec
	// Snapshots counts snapshot events produced, by reason (ready, resumed, snapshot_required,
	// outbox_full, replay).
	Snapshots *prometheus.CounterVec
	// Delivered counts events the edge applied; Skipped those it already held (a retried batch).
	Delivered prometheus.Counter
	Skipped   prometheus.Counter
	// Superseded counts undelivered events replaced by a later snapshot, by reason
	// (snapshot_required: the edge asked for one; outbox_full: the outbox reached its bound).
	Superseded *prometheus.CounterVec
	// DeadLettered counts events moved to the dead-letter store, by the edge's HTTP status.
	DeadLettered *prometheus.CounterVec
	// Dropped counts events not produced, by reason; see the worker's documentation of a full outbox.
	Dropped *prometheus.CounterVec
	// OutboxFull counts the times the outbox reached its bound.
	OutboxFull prometheus.Counter
	// Attempts counts delivery requests by result (delivered, keepalive, snapshot_required,
	// rejected, unauthorized, retry, error); AttemptSeconds times them.
	Attempts       *prometheus.CounterVec
	AttemptSeconds prometheus.Histogram
	// LastDelivery is the unix time of the edge's last 2xx answer.
	LastDelivery prometheus.Gauge
	// GatewayConnected is 1 while the Discord gateway session is connected.
	GatewayConnected prometheus.Gauge
	// Reconnects counts gateway connection attempts after a lost connection.
	Reconnects prometheus.Counter
	// CloseCodes counts gateway close codes received from Discord, by code.
	CloseCodes *prometheus.CounterVec
	// HeartbeatLatency is the time between the last heartbeat sent and its acknowledgement.
	HeartbeatLatency prometheus.Gauge
	// Identifies counts identifies sent (new sessions); Resumes sessions resumed (RESUMED
	// received); InvalidSessions op 9 received.
	Identifies, Resumes, InvalidSessions prometheus.Counter
	// SessionStartRemaining is session_start_limit.remaining of the last GET /gateway/bot, -1
	// when unknown; IdentifyWait the wait of an identify in progress (0 when none).
	SessionStartRemaining, IdentifyWait prometheus.Gauge
}

// New creates the collectors in a new registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	f := factory{reg}
	m := &Metrics{
		Registry:         reg,
		DiscordEvents:    f.counterVec("discord_events_received_total", "Gateway dispatches received, by dispatch type.", "type"),
		Produced:         f.counterVec("events_produced_total", "Events appended to the outbox, by event type.", "type"),
		Snapshots:        f.counterVec("snapshots_total", "Snapshot events produced, by reason.", "reason"),
		Delivered:        f.counter("events_delivered_total", "Events the edge applied."),
		Skipped:          f.counter("events_skipped_total", "Events the edge already held when they were delivered again."),
		Superseded:       f.counterVec("events_superseded_total", "Undelivered events replaced by a later snapshot, by reason.", "reason"),
		DeadLettered:     f.counterVec("events_dead_lettered_total", "Events moved to the dead-letter store, by the edge's HTTP status.", "status"),
		Dropped:          f.counterVec("events_dropped_total", "Events not produced, by reason.", "reason"),
		OutboxFull:       f.counter("outbox_full_total", "Times the outbox reached its bound."),
		Attempts:         f.counterVec("delivery_attempts_total", "Delivery requests to the edge, by result.", "result"),
		LastDelivery:     f.gauge("last_delivery_timestamp_seconds", "Unix time of the edge's last 2xx answer."),
		GatewayConnected: f.gauge("gateway_connected", "1 while the Discord gateway session is connected."),
		Reconnects:       f.counter("gateway_reconnects_total", "Gateway connection attempts after a lost connection."),
		CloseCodes:       f.counterVec("gateway_close_codes_total", "Gateway close codes received from Discord.", "code"),
		HeartbeatLatency: f.gauge("gateway_heartbeat_latency_seconds", "Time between the last gateway heartbeat and its acknowledgement."),
		Identifies:       f.counter("gateway_identifies_total", "Identifies sent to the gateway: new sessions, each spending one of Discord's session starts."),
		Resumes:          f.counter("gateway_resumes_total", "Gateway sessions resumed (RESUMED received), within a run or after a restart."),
		InvalidSessions:  f.counter("gateway_invalid_sessions_total", "Invalid sessions (op 9) received from the gateway."),
		SessionStartRemaining: f.gauge("gateway_session_start_remaining",
			"Identifies left in Discord's session start limit at the last GET /gateway/bot; -1 when unknown."),
		IdentifyWait: f.gauge("gateway_identify_wait_seconds", "Wait of the identify in progress (op 9, rate limit, session start limit); 0 when none."),
	}
	m.AttemptSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "delivery_attempt_seconds", Help: "Duration of delivery requests to the edge.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	reg.MustRegister(m.AttemptSeconds,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// CloseCode counts one gateway close code.
func (m *Metrics) CloseCode(code int) { m.CloseCodes.WithLabelValues(strconv.Itoa(code)).Inc() }

// GaugeFunc registers a gauge read from f at scrape time.
func (m *Metrics) GaugeFunc(name, help string, f func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, f))
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Timeout: 5 * time.Second})
}

// factory creates collectors and registers them.
type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help, label string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, []string{label})
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

// Value returns the sum of the counter and gauge values c holds (all label values of a vector),
// for tests and status reports that read a metric back.
func Value(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	var sum float64
	for m := range ch {
		var pb dto.Metric
		if m.Write(&pb) != nil {
			continue
		}
		switch {
		case pb.Counter != nil:
			sum += pb.Counter.GetValue()
		case pb.Gauge != nil:
			sum += pb.Gauge.GetValue()
		}
	}
	return sum
}
