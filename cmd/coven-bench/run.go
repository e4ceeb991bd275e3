package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spellcoven/gateway/internal/ctxsleep"
)

// errFailed is returned with a report that lists failures: a client missed, repeated or reordered
// events, lost its connection, or the edge refused something.
var errFailed = errors.New("the run failed")

// fdMargin is the files a process needs beside its client connections (listeners, logs, pprof).
const fdMargin = 256

// tokenMargin is how long client tokens outlive the longest run, so that no stream ends on expiry.
const tokenMargin = 10 * time.Minute

// pollInterval is how often the coordinator looks at the clients' progress.
const pollInterval = 5 * time.Millisecond

// runner holds one run's parts.
type runner struct {
	opts     Options
	progress io.Writer
	clock    *clock
	edge     *edge
	pub      *publisher
	fleet    *fleet
	abuse    *abuse      // with Options.Abusive, until the window's end
	times    *eventTimes // fanout only
	report   *Report
	snapshot uint64 // seq of the snapshot every hello is at

	memoryWithout MemorySample // the edge's memory before the clients connected

	// With abusive clients: the edge's goroutines before they came.
	goroutinesBefore      float64
	goneAfter, quietAfter time.Duration
}

// run starts an edge, connects the clients and measures according to opts.Mode. It reports progress
// on progress. The report comes with errFailed when the run completed but something went wrong in it;
// other errors mean nothing was measured.
func run(ctx context.Context, opts Options, progress io.Writer) (_ *Report, err error) {
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, err
	}
	limit, err := raiseFileLimit(uint64(opts.Clients + opts.Abusive + fdMargin))
	if err != nil {
		return nil, err
	}
	buildDir, err := os.MkdirTemp("", "coven-bench-caddy-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(buildDir)
	if opts.Caddy == "" {
		fmt.Fprintln(progress, "building ./cmd/caddy")
	}
	bin, err := caddyBinary(opts.Caddy, buildDir)
	if err != nil {
		return nil, err
	}
	r := &runner{opts: opts, progress: progress, clock: newClock(), report: newReport(opts)}
	r.report.BenchOpenFiles = limit
	if r.edge, err = startEdge(bin, opts); err != nil {
		return nil, err
	}
	defer func() {
		if r.abuse != nil {
			r.abuse.close()
		}
		if r.fleet != nil {
			r.fleet.close()
		}
		if r.pub != nil {
			r.pub.close()
		}
		if cerr := r.edge.close(); cerr != nil && err == nil {
			err = fmt.Errorf("stopping the edge: %w", cerr)
		}
	}()
	if err = r.measure(ctx); err != nil {
		return nil, err
	}
	if len(r.report.Failures) > 0 {
		return r.report, errFailed
	}
	return r.report, nil
}

// measure runs the stages shared by every mode around the mode's own window.
func (r *runner) measure(ctx context.Context) error {
	pid := r.edge.proc.Pid()
	r.report.Edge.Pid = pid
	limit, err := openFileLimit(pid)
	if err != nil {
		return err
	}
	r.report.Edge.OpenFiles = limit
	if limit < uint64(r.opts.Clients+fdMargin) {
		return fmt.Errorf("the edge may open only %d files; %d clients need %d", limit, r.opts.Clients, r.opts.Clients+fdMargin)
	}
	if r.pub, err = newPublisher(r.edge.proc.URL("/internal/events"), r.opts.PayloadBytes, r.clock); err != nil {
		return err
	}
	if err := r.pub.snapshot(ctx); err != nil {
		return err
	}
	r.snapshot = r.pub.last
	if r.opts.Mode == ModeFanout {
		r.times = newEventTimes(r.snapshot+1, r.opts.measuredEvents())
	}
	if r.opts.Clients > 0 {
		if err := r.connect(ctx); err != nil {
			return err
		}
	}
	if r.opts.Abusive > 0 {
		if err := r.startAbuse(ctx); err != nil {
			return err
		}
	}
	switch r.opts.Mode {
	case ModeFanout:
		err = r.window(ctx, r.publishAtRate)
	case ModeIngest:
		err = r.window(ctx, r.publishFlat)
	case ModeIdle:
		err = r.window(ctx, r.hold)
	}
	if err != nil {
		return err
	}
	if r.abuse != nil {
		if err := r.waitGone(ctx); err != nil {
			return err
		}
	}
	if r.opts.Mode == ModeFanout {
		// The memory after the window, beside the memory with the clients before it: the events of
		// the window are in the history; with abusive clients, what they left behind shows too.
		after, err := r.edge.sampleMemory(ctx)
		if err != nil {
			return err
		}
		r.report.MemoryAfterWindow = &after
		if r.opts.EdgeHeapProfileAfter != "" {
			if err := r.edge.profileHeap(ctx, r.opts.EdgeHeapProfileAfter); err != nil {
				return err
			}
		}
	}
	return r.finish(ctx)
}

// startAbuse starts the abusive clients once the measured ones are connected, in a process of their
// own (abuseproc.go).
func (r *runner) startAbuse(ctx context.Context) error {
	m, err := r.edge.metrics(ctx)
	if err != nil {
		return err
	}
	if err := m.require(metricGoroutines); err != nil {
		return err
	}
	r.goroutinesBefore = m[metricGoroutines]
	ttl := r.opts.Duration + r.opts.DrainTimeout + tokenMargin
	cfg := abuseConfig{URL: r.edge.proc.WSURL(), Tokens: make([]string, r.opts.Abusive)}
	if cfg.Shared, err = r.edge.tokenFor("bench-abuser", ttl); err != nil {
		return err
	}
	for i := range cfg.Tokens {
		// The silent clients never send theirs, and the loopers share one.
		if k := abuseKind(i); k == kindOversized || k == kindNoPong {
			if cfg.Tokens[i], err = r.edge.token(r.opts.Clients+i, ttl); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(r.progress, "starting %d abusive clients\n", r.opts.Abusive)
	r.abuse, err = startAbuse(cfg, r.opts.AbuseNice, r.progress)
	return err
}

// connect measures the edge's memory without clients, connects them all and waits for every hello.
// Except in idle mode, which measures after holding the clients, it measures again after the pause
// of opts.Settle.
func (r *runner) connect(ctx context.Context) error {
	var err error
	if r.memoryWithout, err = r.edge.sampleMemory(ctx); err != nil {
		return err
	}
	fmt.Fprintf(r.progress, "connecting %d clients\n", r.opts.Clients)
	ctx, cancel := context.WithTimeout(ctx, r.opts.ConnectTimeout)
	defer cancel()
	ttl := r.opts.ConnectTimeout + r.opts.Duration + r.opts.DrainTimeout + tokenMargin
	token := func(i int) (string, error) { return r.edge.token(i, ttl) }
	started := time.Now()
	r.fleet, err = connect(ctx, r.opts.ClientIO, r.opts.Clients, r.opts.DialParallel, r.edge.proc.WSURL(), token, r.clock, r.times)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	helloed := func(c *client) bool { return c.helloed.Load() }
	for r.fleet.count(helloed) < r.opts.Clients {
		if n, err := r.fleet.lost(); n > 0 {
			return fmt.Errorf("%d clients lost before their hello; %w", n, err)
		}
		if err := ctxsleep.Sleep(ctx, 10*time.Millisecond); err != nil {
			return fmt.Errorf("waiting for hellos: %d of %d arrived: %w", r.fleet.count(helloed), r.opts.Clients, err)
		}
	}
	r.report.ConnectSeconds = time.Since(started).Seconds()
	fmt.Fprintf(r.progress, "%d clients connected in %.1fs\n", r.opts.Clients, r.report.ConnectSeconds)
	if r.opts.Mode == ModeIdle {
		return nil
	}
	if err := ctxsleep.Sleep(ctx, r.opts.Settle); err != nil {
		return err
	}
	return r.sampleMemoryWith(ctx)
}

// sampleMemoryWith measures the edge's memory with every client connected, against the sample taken
// before they connected.
func (r *runner) sampleMemoryWith(ctx context.Context) error {
	with, err := r.edge.sampleMemory(ctx)
	if err != nil {
		return err
	}
	r.report.Memory = newMemoryReport(r.memoryWithout, with, r.opts.Clients)
	if r.opts.EdgeHeapProfile != "" {
		return r.edge.profileHeap(ctx, r.opts.EdgeHeapProfile)
	}
	return nil
}

// finish checks that every client is still served (a ping answered by a pong), reads the edge's
// counters, closes the clients and checks what each received.
func (r *runner) finish(ctx context.Context) error {
	rep := r.report
	if err := r.edge.alive(); err != nil {
		return err
	}
	if r.fleet != nil {
		if n, err := r.fleet.lost(); n > 0 {
			rep.fail("%d of %d clients lost their connection; %v", n, r.opts.Clients, err)
		}
		answered, err := r.pingAll(ctx)
		if err != nil {
			return err
		}
		rep.Answered = answered
		if answered < r.opts.Clients {
			rep.fail("%d of %d clients did not get a pong", r.opts.Clients-answered, r.opts.Clients)
		}
	}
	m, err := r.edge.metrics(ctx)
	if err != nil {
		return err
	}
	rep.setEdgeCounters(m)
	if r.opts.Clients > 0 && rep.Edge.Connections != float64(r.opts.Clients) {
		rep.fail("the edge counts %v connections; %d clients are connected", rep.Edge.Connections, r.opts.Clients)
	}
	if rep.Edge.Evicted > 0 {
		rep.fail("the edge evicted %v clients as too slow", rep.Edge.Evicted)
	}
	rep.Events = r.pub.last - r.snapshot
	rep.Batches = r.pub.batches
	if r.pub.batches > 0 {
		rep.BatchRoundTrip = newLatency(&r.pub.rtt)
	}
	if r.fleet == nil {
		rep.finishRates()
		return nil
	}
	r.fleet.close()
	r.checkDeliveries()
	return nil
}

// pingAll pings every client and returns how many got their pong within the drain timeout.
func (r *runner) pingAll(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.DrainTimeout)
	defer cancel()
	for _, c := range r.fleet.clients {
		if c.alive() {
			_ = c.ping(ctx) // a client that cannot be written to shows as one without a pong
		}
	}
	ponged := func(c *client) bool { return c.pongs.Load() > 0 }
	for r.fleet.count(ponged) < len(r.fleet.clients) {
		if err := ctxsleep.Sleep(ctx, pollInterval); err != nil {
			if ctx.Err() == context.DeadlineExceeded {
				break
			}
			return 0, err
		}
	}
	return r.fleet.count(ponged), nil
}

// checkDeliveries verifies each closed client's stream and merges the latencies.
func (r *runner) checkDeliveries() {
	rep := r.report
	var (
		latency    histogram
		clientP99  histogram // each client's own p99
		deliveries uint64
		wrong      int
		firstWrong error
	)
	for i, c := range r.fleet.clients {
		deliveries += c.check.got
		if c.latency != nil {
			latency.merge(c.latency)
			if c.latency.total > 0 {
				clientP99.record(c.latency.quantile(0.99))
			}
		}
		err := c.failure
		if err == nil {
			err = c.check.verify(r.snapshot, r.pub.last)
		}
		if err != nil {
			if firstWrong == nil {
				firstWrong = fmt.Errorf("client %d: %w", i, err)
			}
			wrong++
		}
	}
	exact := wrong == 0
	rep.ExactlyOnce = &exact
	if !exact {
		rep.fail("%d of %d clients did not get every event exactly once in order; %v", wrong, len(r.fleet.clients), firstWrong)
	}
	rep.Deliveries = deliveries
	if latency.total > 0 {
		rep.Latency = newLatency(&latency)
		first, spread := r.times.spread()
		rep.FirstClientLatency, rep.FanoutSpread = newLatency(&first), newLatency(&spread)
		rep.ClientP99 = newLatency(&clientP99)
		rep.Seconds = r.times.seconds()
	}
	rep.finishRates()
}
