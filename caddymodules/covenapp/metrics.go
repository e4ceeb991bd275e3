package covenapp

import (
	"errors"
	"math"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spellcoven/gateway/auth"
	"github.com/spellcoven/gateway/rooms/discordrest"
	"github.com/spellcoven/gateway/stream"
)

// Metrics are the counters that handlers increment. They are created once per process and registered
// on each configuration's registry, so counts carry across reloads.
type Metrics struct {
	// AuthFailures counts rejected tokens by reason (auth.Reason labels) and by where they were presented
	// ("http" for coven_jwt, "ws" for the WebSocket stream).
	AuthFailures *prometheus.CounterVec
	// WebhookRejected counts webhook deliveries refused by coven_hmac or coven_events, by reason.
	WebhookRejected *prometheus.CounterVec
	// WSRejected counts WebSocket upgrades or sessions refused before streaming, by reason.
	WSRejected *prometheus.CounterVec
	// WSDropped counts streaming sessions the edge ended because of the client, by reason.
	WSDropped *prometheus.CounterVec
}

var metrics = &Metrics{
	AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "coven", Name: "auth_failures_total",
		Help: "Rejected user tokens, by reason and by where they were presented.",
	}, []string{"reason", "source"}),
	WebhookRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "coven", Name: "webhook_rejected_total",
		Help: "Webhook deliveries refused, by reason.",
	}, []string{"reason"}),
	WSRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "coven", Name: "ws_rejected_total",
		Help: "WebSocket connections refused or closed before streaming, by reason.",
	}, []string{"reason"}),
	WSDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "coven", Name: "ws_dropped_total",
		Help: "WebSocket streams the edge ended because of the client (no pong, oversized or bad message, bad or expired token), by reason.",
	}, []string{"reason"}),
}

// Label values the counters start at zero with, so that a dashboard's rate() sees their first
// increment. The handlers that count other values (coven_ws's "origin" and "handshake") are in this
// list too.
var (
	authSources     = []string{"http", "ws"}
	webhookReasons  = []string{"too_large", "read_failed", "bad_signature", "duplicate_id", "invalid", "snapshot_required", "unavailable"}
	wsRejectReasons = append([]string{"origin", "handshake"}, stream.RejectReasons...)
)

func init() {
	for _, r := range append([]string{"missing"}, auth.Reasons...) {
		for _, src := range authSources {
			metrics.AuthFailures.WithLabelValues(r, src)
		}
	}
	for _, r := range webhookReasons {
		metrics.WebhookRejected.WithLabelValues(r)
	}
	for _, r := range wsRejectReasons {
		metrics.WSRejected.WithLabelValues(r)
	}
	for _, r := range stream.DropReasons {
		metrics.WSDropped.WithLabelValues(r)
	}
}

// hubCollector reads the hub's counters at scrape time, so the delivery hot path touches no
// Prometheus structure.
type hubCollector struct {
	state *sharedState

	connections, ingested, skipped, delivered, messages, evicted, lastIngest, seq *prometheus.Desc
}

func newHubCollector(s *sharedState) *hubCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("coven_"+name, help, nil, nil)
	}
	return &hubCollector{
		state:       s,
		connections: d("ws_connections", "WebSocket clients currently subscribed."),
		ingested:    d("events_ingested_total", "Events applied from webhook deliveries."),
		skipped:     d("events_skipped_total", "Events acknowledged as already applied (replays)."),
		delivered:   d("events_delivered_total", "Frames delivered to WebSocket clients."),
		messages:    d("ws_messages_total", "WebSocket messages written (several frames may share one)."),
		evicted:     d("ws_evicted_total", "WebSocket clients closed because they could not keep up."),
		lastIngest:  d("ingest_last_batch_timestamp_seconds", "When the edge last applied a webhook batch (Unix time; 0: none since it started)."),
		seq:         d("hub_seq", "Sequence number of the last applied event."),
	}
}

func (c *hubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connections, c.ingested, c.skipped, c.delivered, c.messages, c.evicted, c.lastIngest, c.seq} {
		ch <- d
	}
}

func (c *hubCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.state.hub.Stats()
	ch <- prometheus.MustNewConstMetric(c.connections, prometheus.GaugeValue, float64(st.Subscribers))
	ch <- prometheus.MustNewConstMetric(c.ingested, prometheus.CounterValue, float64(st.Ingested))
	ch <- prometheus.MustNewConstMetric(c.skipped, prometheus.CounterValue, float64(st.Skipped))
	ch <- prometheus.MustNewConstMetric(c.delivered, prometheus.CounterValue, float64(st.Delivered))
	ch <- prometheus.MustNewConstMetric(c.messages, prometheus.CounterValue, float64(st.Messages))
	ch <- prometheus.MustNewConstMetric(c.evicted, prometheus.CounterValue, float64(st.Evicted))
	var last float64
	if !st.LastIngest.IsZero() {
		last = float64(st.LastIngest.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(c.lastIngest, prometheus.GaugeValue, last)
	ch <- prometheus.MustNewConstMetric(c.seq, prometheus.GaugeValue, float64(st.Position.Seq))
}

// SharedMetrics registers the process-wide counters on ctx's metrics registry and returns them. Handlers
// call it in Provision; they may be used without the `coven` app (coven_hmac guarding any webhook).
func SharedMetrics(ctx caddy.Context) *Metrics {
	registerCollectors(ctx.GetMetricsRegistry(), metrics.AuthFailures, metrics.WebhookRejected, metrics.WSRejected, metrics.WSDropped)
	return metrics
}

// registerMetrics registers the process-wide counters and collectors of s's hub and of the Discord
// client d (if any) on reg.
func registerMetrics(reg *prometheus.Registry, s *sharedState, d *discordrest.Client, v *auth.Verifier) {
	registerCollectors(reg, metrics.AuthFailures, metrics.WebhookRejected, metrics.WSRejected, metrics.WSDropped, newHubCollector(s))
	if d != nil {
		registerCollectors(reg, newDiscordCollector(d))
	}
	if v != nil {
		registerCollectors(reg, newJWKSCollector(v))
	}
}

// jwksCollector reads the JWT verifier's key state at scrape time.
type jwksCollector struct {
	v                               *auth.Verifier
	fetches, failures, keys, ageSec *prometheus.Desc
}

func newJWKSCollector(v *auth.Verifier) *jwksCollector {
	return &jwksCollector{
		v:        v,
		fetches:  prometheus.NewDesc("coven_jwks_fetches_total", "JWKS fetches that ended, successful or not.", nil, nil),
		failures: prometheus.NewDesc("coven_jwks_fetch_failures_total", "JWKS fetches that failed.", nil, nil),
		keys:     prometheus.NewDesc("coven_jwks_keys", "Usable signing keys held (0: no token can be verified).", nil, nil),
		ageSec: prometheus.NewDesc("coven_jwks_age_seconds",
			"Seconds since the keys were last fetched successfully (NaN before the first success).", nil, nil),
	}
}

func (c *jwksCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.fetches
	ch <- c.failures
	ch <- c.keys
	ch <- c.ageSec
}

func (c *jwksCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.v.Status()
	age := math.NaN()
	if !st.LastFetch.IsZero() {
		age = time.Since(st.LastFetch).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.fetches, prometheus.CounterValue, float64(st.Fetches))
	ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(st.FetchFailures))
	ch <- prometheus.MustNewConstMetric(c.keys, prometheus.GaugeValue, float64(st.KeyCount))
	ch <- prometheus.MustNewConstMetric(c.ageSec, prometheus.GaugeValue, age)
}

// discordCollector reads the Discord REST client's counts at scrape time.
type discordCollector struct {
	client           *discordrest.Client
	requests, budget *prometheus.Desc
}

func newDiscordCollector(c *discordrest.Client) *discordCollector {
	return &discordCollector{
		client: c,
		requests: prometheus.NewDesc("coven_discord_requests_total",
			"Discord REST calls by route and result (ok, rate_limited, server_error, not_sent...), one per attempt.",
			[]string{"route", "result"}, nil),
		budget: prometheus.NewDesc("coven_discord_invalid_requests",
			"Discord's 401, 403 and 429 answers within the last 10 minutes (Discord bans the address at 10,000).", nil, nil),
	}
}

func (c *discordCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.budget
}

func (c *discordCollector) Collect(ch chan<- prometheus.Metric) {
	for _, cc := range c.client.Calls() {
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(cc.Count), cc.Route, cc.Result)
	}
	st := c.client.Status(time.Now())
	ch <- prometheus.MustNewConstMetric(c.budget, prometheus.GaugeValue, float64(st.InvalidRequests))
}

func registerCollectors(reg *prometheus.Registry, cs ...prometheus.Collector) {
	if reg == nil {
		return
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				panic(err) // a programming error: descriptors clash
			}
		}
	}
}
