// Command coven-bench is the edge's load tool. It starts a real edge (the Caddy binary built from
// ./cmd/caddy, or -caddy) on free ports of 127.0.0.1 with an in-process identity provider, connects
// WebSocket clients that authenticate as browsers do, posts signed event batches to the webhook ingest,
// and reports what the edge did with them:
//
//   - fanout: events at -rate per second for -duration; delivery latency percentiles from each post to
//     each client's receipt, deliveries per second, whether every client received every event exactly
//     once and in order, and the edge's CPU per delivery;
//   - idle: -clients connections held for -duration; the edge's memory per connection (RSS, Go heap
//     and stacks, with the clients against without them, in the same run) and proof that every
//     connection is still served (a ping answered by a pong);
//   - ingest: batches of -batch events posted back to back; the events per second the edge accepts.
//
// Every mode also reports the edge's memory per connection when it has clients, the edge's and the
// bench's own CPU over the measured window (both run on the same cores), and the edge's delivery
// counters. A run in which a client misses, repeats or reorders an event, or loses its connection,
// prints FAIL lines and exits with status 1. docs/performance.md records the figures of the reference
// scenarios and how they were taken.
//
// The clients stand for browsers on other machines, so the bench takes as little as it can of the
// cores it shares with the edge: on Linux they are raw sockets that one epoll loop per GOMAXPROCS
// reads, one read(2) per ready socket and no goroutine per client (-client-io epoll, the default).
// -client-io go runs a goroutine per client reading with github.com/coder/websocket through Go's
// netpoller instead, the only kind on other systems. Both feed the same checks and reports; the
// report names the kind, since the bench's CPU depends on it.
//
// Usage:
//
//	go run ./cmd/coven-bench -mode fanout -clients 1000 -rate 50 -duration 30s
//	go run ./cmd/coven-bench -mode idle -clients 10000 -duration 30s
//	go run ./cmd/coven-bench -mode ingest -batch 100 -duration 10s -json
//	go run ./cmd/coven-bench -mode fanout -clients 5000 -rate 4 -duration 30s -client-io go
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if isAbuseChild() {
		os.Exit(abuseChildMain(os.Stdin, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(benchMain(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// benchMain runs the command with args and returns its exit status: 0 on success, 1 when the run
// failed, 2 for bad flags.
func benchMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, asJSON, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "coven-bench: %v\n", err)
		return 2
	}
	rep, err := run(ctx, opts, stderr)
	if rep != nil {
		if asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(rep)
		} else {
			rep.writeText(stdout)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "coven-bench: %v\n", err)
		return 1
	}
	return 0
}

// parseFlags reads the command line into Options. Flags left out take the defaults of Options, some
// of which depend on -mode.
func parseFlags(args []string, stderr io.Writer) (Options, bool, error) {
	fs := flag.NewFlagSet("coven-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o    Options
		mode string
		cio  string
		asJS bool
	)
	fs.StringVar(&mode, "mode", string(ModeFanout), "what to measure: fanout, idle or ingest")
	fs.IntVar(&o.Clients, "clients", 0, "WebSocket clients (default 1000 for fanout and idle, 0 for ingest)")
	fs.IntVar(&o.Rate, "rate", DefaultRate, "events per second posted in fanout mode")
	fs.DurationVar(&o.Duration, "duration", DefaultDuration, "measured window: publishing (fanout, ingest) or holding (idle)")
	fs.IntVar(&o.Batch, "batch", 0, "events per webhook post (default 1 for fanout, 100 for ingest)")
	fs.IntVar(&o.PayloadBytes, "payload", DefaultPayloadBytes, "bytes of each event's data")
	fs.StringVar(&o.Caddy, "caddy", "", "edge binary (default: build ./cmd/caddy into a temporary directory)")
	fs.StringVar(&cio, "client-io", string(DefaultClientIO), "how the clients receive: epoll (raw sockets read by a few epoll loops, Linux only) or go (a goroutine per client, github.com/coder/websocket)")
	fs.IntVar(&o.DialParallel, "dial-parallel", DefaultDialParallel, "clients connecting at once")
	fs.DurationVar(&o.ConnectTimeout, "connect-timeout", DefaultConnectTimeout, "bound on connecting every client and receiving every hello")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", DefaultDrainTimeout, "bound on the wait for the last deliveries")
	fs.DurationVar(&o.Settle, "settle", DefaultSettle, "pause after the last hello before the memory sample")
	fs.IntVar(&o.Abusive, "abusive", 0, "misbehaving clients beside the measured ones during a fanout window (half never authenticate; the rest send oversized messages, stop answering pings, or reconnect in a loop with one token)")
	fs.BoolVar(&o.SoakTimers, "soak-timers", false, "give the edge a soak's stream timers (pings every 2s, 2s timeout, auth timeout 5s) without abusive clients, for the clean run a soak is compared with (-abusive implies it)")
	fs.IntVar(&o.AbuseNice, "abuse-nice", DefaultAbuseNice, "niceness of the process the abusive clients run in (0: the bench's own priority)")
	fs.IntVar(&o.AcceptRate, "accept-rate", ProductionAcceptRate, "connections the edge accepts per second (coven_accept, as the production Caddyfile sets it); 0 leaves them unpaced")
	fs.IntVar(&o.AcceptBurst, "accept-burst", ProductionAcceptBurst, "connections the edge accepts back to back after a quiet period (coven_accept)")
	fs.IntVar(&o.QueueLength, "queue-length", 0, "the edge's queue_length: frames queued per client before it is closed as too slow (default: the edge's, 256)")
	fs.BoolVar(&o.HTTPMetrics, "http-metrics", false, "turn on Caddy's per-request HTTP metrics in the edge (off in the production Caddyfile)")
	fs.StringVar(&o.EdgeProfile, "edge-profile", "", "write the edge's CPU profile of the measured window to this file")
	fs.StringVar(&o.EdgeHeapProfile, "edge-heap-profile", "", "write the edge's heap profile with every client connected to this file")
	fs.StringVar(&o.EdgeHeapProfileAfter, "edge-heap-profile-after", "", "write the edge's heap profile after the fanout window to this file")
	fs.StringVar(&o.BenchProfile, "bench-profile", "", "write the bench's own CPU profile of the measured window to this file")
	fs.BoolVar(&asJS, "json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return Options{}, false, err
	}
	if fs.NArg() > 0 {
		return Options{}, false, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.Mode, o.ClientIO = Mode(mode), ClientIO(cio)
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["clients"] {
		o.Clients = defaultClients(o.Mode)
	}
	// Zero is a default for the library but not a value a person means on the command line.
	for _, f := range []struct {
		name string
		v    int
	}{{"rate", o.Rate}, {"batch", o.Batch}, {"payload", o.PayloadBytes}, {"dial-parallel", o.DialParallel}} {
		if set[f.name] && f.v == 0 {
			return Options{}, false, fmt.Errorf("-%s must not be 0", f.name)
		}
	}
	if set["duration"] && o.Duration == 0 {
		return Options{}, false, errors.New("-duration must not be 0")
	}
	opts, err := o.withDefaults()
	return opts, asJS, err
}
