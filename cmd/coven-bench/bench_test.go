package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/hub"
)

// testTimeout bounds a whole run in these tests; a healthy one takes a few seconds.
const testTimeout = 2 * time.Minute

// near reports whether a and b agree to a part in a million.
func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(math.Abs(a), math.Abs(b)) }

func TestRunsMeasureARealEdge(t *testing.T) {
	// Over the runs, the edge's CPU is measured (one short run alone may take less than a tick).
	var edgeCPU float64
	runs := 0
	t.Cleanup(func() {
		if !t.Failed() && runs >= 3 && edgeCPU <= 0 {
			t.Errorf("no edge CPU measured in %d runs", runs)
		}
	})
	tests := []struct {
		name string
		opts Options
	}{
		{"fanout", Options{Mode: ModeFanout, Clients: 5, Rate: 200, Duration: time.Second}},
		{"fanout, accepts paced as in production", Options{Mode: ModeFanout, Clients: 5, Rate: 200, Duration: time.Second, AcceptRate: ProductionAcceptRate, AcceptBurst: ProductionAcceptBurst}},
		{"fanout to goroutine clients", Options{Mode: ModeFanout, Clients: 5, Rate: 200, Duration: time.Second, ClientIO: ClientIOGo}},
		{"fanout in batches", Options{Mode: ModeFanout, Clients: 3, Rate: 400, Batch: 20, Duration: time.Second}},
		{"idle", Options{Mode: ModeIdle, Clients: 5, Duration: time.Second}},
		{"idle goroutine clients", Options{Mode: ModeIdle, Clients: 5, Duration: time.Second, ClientIO: ClientIOGo}},
		{"ingest alone", Options{Mode: ModeIngest, Duration: time.Second}},
		{"fanout beside abusive clients", Options{Mode: ModeFanout, Clients: 4, Rate: 100, Duration: 3 * time.Second, Abusive: 24, AbuseNice: DefaultAbuseNice}},
		{"abusive clients at the bench's priority", Options{Mode: ModeFanout, Clients: 2, Rate: 100, Duration: 3 * time.Second, Abusive: 8}},
		// Ingest posts as fast as the edge accepts: on a loaded machine the clients fall behind by
		// thousands of frames, which the edge's longest queue absorbs (eviction is tested in hub/).
		{"ingest with clients", Options{Mode: ModeIngest, Clients: 3, Batch: 50, Duration: time.Second, QueueLength: hub.MaxQueueLength}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			opts := tt.opts
			opts.Caddy, opts.Settle = caddyBin, 100*time.Millisecond
			rep, err := run(ctx, opts, testLog{t})
			if err != nil {
				if rep != nil {
					t.Fatalf("%v: %q", err, rep.Failures)
				}
				t.Fatal(err)
			}
			var text bytes.Buffer
			rep.writeText(&text)
			t.Logf("report:\n%s", text.String())
			checkReport(t, opts, rep)
			edgeCPU += rep.EdgeCPU.Seconds
			runs++
		})
	}
}

// checkReport checks what every report must say of a successful run with opts.
func checkReport(t *testing.T, opts Options, rep *Report) {
	t.Helper()
	clients := uint64(opts.Clients)
	if want := cmp.Or(opts.ClientIO, DefaultClientIO); rep.ClientIO != want && clients > 0 || rep.ClientIO != "" && clients == 0 {
		t.Errorf("client I/O %q of %d clients, want %q", rep.ClientIO, clients, want)
	}
	if rep.Edge.Pid <= 0 || rep.Edge.OpenFiles < uint64(opts.Clients+fdMargin) {
		t.Errorf("edge pid %d with open files limit %d", rep.Edge.Pid, rep.Edge.OpenFiles)
	}
	if rep.AcceptRate != opts.AcceptRate || opts.AcceptRate > 0 && rep.AcceptBurst != opts.AcceptBurst {
		t.Errorf("report says accepts paced at %d/s (burst %d), want %d/s (burst %d)", rep.AcceptRate, rep.AcceptBurst, opts.AcceptRate, opts.AcceptBurst)
	}
	if rep.WindowSeconds < opts.Duration.Seconds() {
		t.Errorf("window of %.3fs, shorter than the %v asked", rep.WindowSeconds, opts.Duration)
	}
	if rep.Events != uint64(rep.Batches*rep.Batch) {
		t.Errorf("%d events in %d batches of %d", rep.Events, rep.Batches, rep.Batch)
	}
	if rep.Deliveries != rep.Events*clients {
		t.Errorf("%d deliveries of %d events to %d clients", rep.Deliveries, rep.Events, clients)
	}
	if rep.Edge.Connections != float64(clients) || rep.Answered != opts.Clients {
		t.Errorf("the edge holds %v connections and %d clients answered; want %d", rep.Edge.Connections, rep.Answered, clients)
	}
	switch {
	case clients == 0 && (rep.ExactlyOnce != nil || rep.Memory != nil):
		t.Errorf("a run without clients reports delivery %v or memory %+v", rep.ExactlyOnce, rep.Memory)
	case clients > 0 && (rep.ExactlyOnce == nil || !*rep.ExactlyOnce):
		t.Errorf("exactly once: %v", rep.ExactlyOnce)
	case clients > 0 && (rep.Memory == nil || rep.Memory.With.RSS == 0 || rep.Memory.With.HeapInuse == 0):
		t.Errorf("memory: %+v", rep.Memory)
	}
	if opts.Abusive > 0 {
		a := rep.Abuse
		if a == nil || a.Clients != opts.Abusive || a.Silent+a.Oversized+a.NoPong+a.Loopers != opts.Abusive {
			t.Fatalf("abuse report %+v", a)
		}
		if a.SilentClosed != int64(a.Silent) || a.OversizedClosed != int64(a.Oversized) || a.Reconnects < int64(a.Loopers) {
			t.Errorf("the edge did not end every abusive client as documented: %+v", a)
		}
		// Reported, but possibly 0: a few abusive clients can take less than a clock tick (10 ms)
		// in a short window.
		if c := rep.AbuseCPU; c == nil || c.Seconds < 0 || c.Cores < 0 {
			t.Errorf("no CPU of the abusive clients' process: %+v", c)
		}
		if a.GoneSeconds <= 0 || a.QuietSeconds < a.GoneSeconds || a.GoroutinesBefore < float64(opts.Clients) {
			t.Errorf("no time until the abusive sockets and their goroutines were gone: %+v", a)
		}
	}
	// The edge's CPU comes in clock ticks (10 ms): a short run may take less than one, so each run
	// is checked for consistency and TestRunsMeasureARealEdge for CPU over all its runs.
	if c := rep.EdgeCPU; c.Seconds < 0 || c.Seconds > 0 && (rep.Deliveries > 0 && !near(c.PerDeliveryMicros, c.Seconds*1e6/float64(rep.Deliveries)) ||
		rep.Events > 0 && !near(c.PerEventMicros, c.Seconds*1e6/float64(rep.Events))) {
		t.Errorf("edge CPU %+v for %d deliveries of %d events", c, rep.Deliveries, rep.Events)
	}
	switch opts.Mode {
	case ModeFanout:
		if want := uint64(opts.measuredEvents()); rep.Events != want {
			t.Errorf("%d events, want rate x duration = %d", rep.Events, want)
		}
		l := rep.Latency
		if l == nil || l.Samples != rep.Deliveries || l.P50 > l.P99 || l.P99 > l.Max || l.Max <= 0 {
			t.Errorf("latency %+v of %d deliveries", l, rep.Deliveries)
		}
		if c := rep.ClientP99; c == nil || c.Samples != uint64(opts.Clients) || c.Max > l.Max || c.Max < l.P50 {
			t.Errorf("per-client p99 %+v of %d clients, overall %+v", c, opts.Clients, l)
		}
		first, spread := rep.FirstClientLatency, rep.FanoutSpread
		if first == nil || spread == nil || first.Samples != rep.Events || spread.Samples != rep.Events || first.Max > l.Max {
			t.Errorf("first-client latency %+v and spread %+v of %d events, overall %+v", first, spread, rep.Events, l)
		}
		if m := rep.MemoryAfterWindow; m == nil || m.HeapInuse == 0 || m.RSS == 0 {
			t.Errorf("no memory sample after the window: %+v", m)
		}
	case ModeIngest:
		if rep.Events == 0 || rep.BatchRoundTrip == nil || rep.BatchRoundTrip.Samples != uint64(rep.Batches) {
			t.Errorf("%d events, batch round trips %+v of %d batches", rep.Events, rep.BatchRoundTrip, rep.Batches)
		}
	case ModeIdle:
		if rep.Events != 0 || rep.Latency != nil {
			t.Errorf("an idle run posted %d events, latency %+v", rep.Events, rep.Latency)
		}
	}
}

func TestTheCommandPrintsJSONAndExitsWithItsStatus(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantStatus int
		wantOut    func(t *testing.T, stdout []byte)
		wantErr    string
	}{
		{
			name:       "a run as JSON",
			args:       []string{"-caddy", caddyBin, "-mode", "fanout", "-clients", "2", "-rate", "20", "-duration", "1s", "-settle", "100ms", "-json"},
			wantStatus: 0,
			wantOut: func(t *testing.T, stdout []byte) {
				var rep Report
				if err := json.Unmarshal(stdout, &rep); err != nil {
					t.Fatalf("stdout is not a JSON report: %v\n%s", err, stdout)
				}
				if rep.Mode != ModeFanout || rep.Deliveries != 40 || rep.ExactlyOnce == nil || !*rep.ExactlyOnce {
					t.Errorf("report %+v", rep)
				}
			},
		},
		{name: "bad flags", args: []string{"-batch", "0"}, wantStatus: 2, wantErr: "-batch must not be 0"},
		{name: "help", args: []string{"-h"}, wantStatus: 0, wantErr: "-mode string"},
		{name: "no edge binary", args: []string{"-caddy", "/nonexistent/caddy", "-mode", "ingest", "-duration", "1s"}, wantStatus: 1, wantErr: "/nonexistent/caddy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			var stdout, stderr bytes.Buffer
			if got := benchMain(ctx, tt.args, &stdout, &stderr); got != tt.wantStatus {
				t.Fatalf("exit status %d, want %d\nstderr:\n%s", got, tt.wantStatus, stderr.String())
			}
			if tt.wantOut != nil {
				tt.wantOut(t, stdout.Bytes())
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tt.wantErr)
			}
		})
	}
}

func TestAClientThatMissedAnEventFailsTheRun(t *testing.T) {
	const snapshot, last = 1, 4
	stream := func(events ...uint64) *client {
		c := &client{done: make(chan struct{})}
		close(c.done)
		c.check.hello(snapshot)
		for _, seq := range events {
			c.check.event(seq)
		}
		return c
	}
	r := &runner{
		report:   newReport(Options{Mode: ModeFanout, Clients: 3}),
		fleet:    &fleet{clients: []*client{stream(2, 3, 4), stream(2, 4), stream(2, 3, 4)}},
		pub:      &publisher{last: last},
		snapshot: snapshot,
	}
	r.checkDeliveries()
	rep := r.report
	if rep.ExactlyOnce == nil || *rep.ExactlyOnce {
		t.Fatalf("exactly once: %v, want false", rep.ExactlyOnce)
	}
	if len(rep.Failures) != 1 || !strings.Contains(rep.Failures[0], "1 of 3 clients") || !strings.Contains(rep.Failures[0], "client 1: 1 out-of-order or repeated events; first: event 4 after a gap") {
		t.Fatalf("failures %q, want client 1's gap reported", rep.Failures)
	}
	if rep.Deliveries != 8 {
		t.Errorf("%d deliveries counted, want 8", rep.Deliveries)
	}
}
