package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// behindTarget is the share of the target rate below which a fanout report warns that the edge did
// not keep up with the posts.
const behindTarget = 0.95

// Report is the outcome of a run, printed as text or, with -json, as one JSON object.
type Report struct {
	Mode         Mode `json:"mode"`
	Clients      int  `json:"clients"`
	Batch        int  `json:"batch"`
	PayloadBytes int  `json:"payload_bytes"`
	// ClientIO is how the clients received, which weighs on the bench's own CPU (absent without
	// clients).
	ClientIO ClientIO `json:"client_io,omitempty"`
	// TargetRate is the events per second asked for (fanout).
	TargetRate int `json:"target_rate,omitempty"`
	// AcceptRate and AcceptBurst are the edge's coven_accept pace (absent when unpaced).
	AcceptRate  int `json:"accept_rate,omitempty"`
	AcceptBurst int `json:"accept_burst,omitempty"`
	// SoakTimers tells that the edge ran with a soak's stream timers (Options.SoakTimers).
	SoakTimers bool `json:"soak_timers,omitempty"`
	// WindowSeconds is the measured window: publishing and draining, or holding.
	WindowSeconds float64 `json:"window_seconds"`
	// ConnectSeconds is how long connecting every client and receiving every hello took.
	ConnectSeconds float64 `json:"connect_seconds,omitempty"`

	// Events were accepted by the edge in the window, in Batches posts.
	Events          uint64  `json:"events"`
	Batches         int     `json:"batches"`
	EventsPerSecond float64 `json:"events_per_second"`
	// Deliveries are events received by clients, summed over clients.
	Deliveries          uint64  `json:"deliveries"`
	DeliveriesPerSecond float64 `json:"deliveries_per_second"`
	// ExactlyOnce tells whether every client received every event once, in order (absent without
	// clients).
	ExactlyOnce *bool `json:"exactly_once,omitempty"`
	// Answered is the number of clients that answered the final ping with a pong.
	Answered int `json:"answered_ping"`

	// Latency is from an event's post to its receipt by a client, over every delivery (fanout).
	Latency *Latency `json:"latency,omitempty"`
	// FirstClientLatency is from an event's post to its receipt by the first client, over events: the
	// ingest path and one delivery.
	FirstClientLatency *Latency `json:"first_client_latency,omitempty"`
	// FanoutSpread is the time between the first and the last client's receipt of an event, over
	// events: how long a fan-out to every client takes.
	FanoutSpread *Latency `json:"fanout_spread,omitempty"`
	// ClientP99 is each client's own p99 latency, over clients: its max is the slowest client's
	// p99, which shows whether the same clients are always served last.
	ClientP99 *Latency `json:"client_p99,omitempty"`
	// Seconds is the window second by second (fanout): the events posted in each and how long their
	// last client waited, which shows when in the window the slow deliveries were.
	Seconds []SecondOfWindow `json:"seconds,omitempty"`
	// BatchRoundTrip is the time from posting a batch to the edge's answer.
	BatchRoundTrip *Latency `json:"batch_round_trip,omitempty"`

	EdgeCPU  CPU `json:"edge_cpu"`
	BenchCPU CPU `json:"bench_cpu"`
	// AbuseCPU is the CPU of the abusive clients' process over the window (Options.Abusive).
	AbuseCPU *CPU `json:"abuse_cpu,omitempty"`
	// Machine is the whole machine's CPU use over the window: the edge and the bench run on the same
	// cores, and on a shared machine so may anything else.
	Machine MachineCPU `json:"machine"`
	// Memory compares the edge without clients and with every client connected and idle.
	Memory *MemoryReport `json:"memory,omitempty"`
	Edge   EdgeCounters  `json:"edge"`
	// MemoryAfterWindow is the edge's memory after a fanout window (and after the abusive clients are
	// gone), to set beside Memory.With.
	MemoryAfterWindow *MemorySample `json:"memory_after_window,omitempty"`
	// Abuse describes the abusive clients of a soak (Options.Abusive).
	Abuse *AbuseReport `json:"abuse,omitempty"`
	// BenchOpenFiles is the bench's open files limit.
	BenchOpenFiles uint64 `json:"bench_open_files_limit"`

	// Failures lists what went wrong; a run with failures exits with status 1.
	Failures []string `json:"failures,omitempty"`

	edgeCPU, benchCPU, machineCPU time.Duration
	abuseCPU                      time.Duration // valid when abused
	abused                        bool
}

// Latency summarizes a distribution of durations, in milliseconds.
type Latency struct {
	P50     float64 `json:"p50_ms"`
	P90     float64 `json:"p90_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
	Samples uint64  `json:"samples"`
}

// CPU is a process's CPU time over the window.
type CPU struct {
	Seconds float64 `json:"seconds"`
	// Cores is Seconds over the window: 1 means one core busy throughout.
	Cores float64 `json:"cores"`
	// PerDeliveryMicros divides Seconds by the deliveries (when there are any).
	PerDeliveryMicros float64 `json:"per_delivery_us,omitempty"`
	// PerEventMicros divides Seconds by the events accepted (when there are any).
	PerEventMicros float64 `json:"per_event_us,omitempty"`
}

// MachineCPU is how busy the machine's processors were over the window, in cores.
type MachineCPU struct {
	Cores int     `json:"cores"`
	Busy  float64 `json:"busy_cores"`
	// Others is what neither the edge nor the bench (nor the abusive clients' process) used: other
	// processes, the kernel's own work.
	Others float64 `json:"others_cores"`
}

// MemoryReport is the edge's memory without and with the clients, and the difference per client.
type MemoryReport struct {
	Without       MemorySample  `json:"without_clients"`
	With          MemorySample  `json:"with_clients"`
	PerConnection PerConnection `json:"per_connection"`
}

// PerConnection is the memory growth divided by the number of connections, in bytes.
type PerConnection struct {
	RSS        float64 `json:"rss_bytes"`
	HeapInuse  float64 `json:"heap_inuse_bytes"`
	StackInuse float64 `json:"stack_inuse_bytes"`
}

// EdgeCounters are the edge's process facts and Prometheus counters at the end of the run.
type EdgeCounters struct {
	Pid         int     `json:"pid"`
	OpenFiles   uint64  `json:"open_files_limit"`
	Connections float64 `json:"ws_connections"`
	Delivered   float64 `json:"frames_delivered"`
	Messages    float64 `json:"ws_messages"`
	// FramesPerMessage is the average number of frames the hub joined into one WebSocket message.
	FramesPerMessage float64 `json:"frames_per_message,omitempty"`
	Evicted          float64 `json:"evicted"`
}

func newReport(o Options) *Report {
	r := &Report{Mode: o.Mode, Clients: o.Clients, Batch: o.Batch, PayloadBytes: o.PayloadBytes}
	if o.AcceptRate > 0 {
		r.AcceptRate, r.AcceptBurst = o.AcceptRate, o.AcceptBurst
	}
	if o.Clients > 0 {
		r.ClientIO = o.ClientIO
	}
	if o.Mode == ModeFanout {
		r.TargetRate = o.Rate
		r.SoakTimers = o.SoakTimers
	}
	return r
}

func (r *Report) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

func (r *Report) setWindow(window, edgeCPU, benchCPU, machineCPU time.Duration) {
	r.WindowSeconds = window.Seconds()
	r.edgeCPU, r.benchCPU, r.machineCPU = edgeCPU, benchCPU, machineCPU
}

func (r *Report) setEdgeCounters(m metricsSample) {
	r.Edge.Connections = m[metricConnections]
	r.Edge.Delivered = m[metricDelivered]
	r.Edge.Messages = m[metricMessages]
	r.Edge.Evicted = m[metricEvicted]
	if r.Edge.Messages > 0 {
		r.Edge.FramesPerMessage = r.Edge.Delivered / r.Edge.Messages
	}
}

// finishRates derives the rates and per-unit costs once the counts are known.
func (r *Report) finishRates() {
	if r.WindowSeconds > 0 {
		r.EventsPerSecond = float64(r.Events) / r.WindowSeconds
		r.DeliveriesPerSecond = float64(r.Deliveries) / r.WindowSeconds
	}
	r.EdgeCPU = r.cpu(r.edgeCPU)
	r.BenchCPU = r.cpu(r.benchCPU)
	r.Machine.Cores = runtime.NumCPU()
	if r.WindowSeconds > 0 {
		r.Machine.Busy = r.machineCPU.Seconds() / r.WindowSeconds
		r.Machine.Others = max(r.Machine.Busy-r.EdgeCPU.Cores-r.BenchCPU.Cores, 0)
	}
	if r.abused {
		c := r.cpu(r.abuseCPU)
		r.AbuseCPU = &c
		r.Machine.Others = max(r.Machine.Others-c.Cores, 0)
	}
}

func (r *Report) cpu(d time.Duration) CPU {
	c := CPU{Seconds: d.Seconds()}
	if r.WindowSeconds > 0 {
		c.Cores = c.Seconds / r.WindowSeconds
	}
	if r.Deliveries > 0 {
		c.PerDeliveryMicros = float64(d.Microseconds()) / float64(r.Deliveries)
	}
	if r.Events > 0 {
		c.PerEventMicros = float64(d.Microseconds()) / float64(r.Events)
	}
	return c
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func newLatency(h *histogram) *Latency {
	return &Latency{
		P50: ms(h.quantile(0.50)), P90: ms(h.quantile(0.90)), P99: ms(h.quantile(0.99)),
		Max: ms(h.max), Samples: h.total,
	}
}

func newMemoryReport(without, with MemorySample, clients int) *MemoryReport {
	per := func(a, b uint64) float64 { return (float64(b) - float64(a)) / float64(clients) }
	return &MemoryReport{
		Without: without,
		With:    with,
		PerConnection: PerConnection{
			RSS:        per(without.RSS, with.RSS),
			HeapInuse:  per(without.HeapInuse, with.HeapInuse),
			StackInuse: per(without.StackInuse, with.StackInuse),
		},
	}
}

// writeText prints the report for a person.
func (r *Report) writeText(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "mode %s: %d clients", r.Mode, r.Clients)
	if r.ClientIO != "" {
		fmt.Fprintf(&b, " (%s)", r.ClientIO)
	}
	if r.Mode != ModeIdle {
		fmt.Fprintf(&b, ", batch %d, payload %d B", r.Batch, r.PayloadBytes)
	}
	if r.TargetRate > 0 {
		fmt.Fprintf(&b, ", target %d events/s", r.TargetRate)
	}
	if r.AcceptRate > 0 {
		fmt.Fprintf(&b, ", accepts paced at %d/s (burst %d)", r.AcceptRate, r.AcceptBurst)
	}
	if r.SoakTimers {
		fmt.Fprintf(&b, ", the soak's timers (ping %v, timeout %v, auth %v)", abusePingInterval, abusePingTimeout, abuseAuthTimeout)
	}
	fmt.Fprintf(&b, ", window %.2fs\n", r.WindowSeconds)
	if r.ConnectSeconds > 0 {
		fmt.Fprintf(&b, "  connect:     %d clients with hello in %.1fs\n", r.Clients, r.ConnectSeconds)
	}
	if r.Mode != ModeIdle {
		fmt.Fprintf(&b, "  events:      %d in %d batches, %.1f events/s accepted\n", r.Events, r.Batches, r.EventsPerSecond)
	}
	if r.TargetRate > 0 && r.EventsPerSecond < behindTarget*float64(r.TargetRate) {
		fmt.Fprintf(&b, "  WARNING:     the publisher fell behind the target of %d events/s: posts took longer than their interval\n", r.TargetRate)
	}
	if r.Deliveries > 0 {
		fmt.Fprintf(&b, "  deliveries:  %d, %.0f/s\n", r.Deliveries, r.DeliveriesPerSecond)
	}
	if r.ExactlyOnce != nil {
		fmt.Fprintf(&b, "  exactly once, in order: %v; %d/%d clients answered the final ping\n", *r.ExactlyOnce, r.Answered, r.Clients)
	}
	for _, l := range []struct {
		name string
		l    *Latency
	}{{"latency:", r.Latency}, {"first client:", r.FirstClientLatency}, {"spread:", r.FanoutSpread}, {"client p99:", r.ClientP99}} {
		if l.l != nil {
			fmt.Fprintf(&b, "  %-12s p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (%d samples)\n", l.name, l.l.P50, l.l.P90, l.l.P99, l.l.Max, l.l.Samples)
		}
	}
	if len(r.Seconds) > 0 {
		b.WriteString("  by second:   slowest receipt")
		for k, sec := range r.Seconds {
			fmt.Fprintf(&b, " %d:%.0f", k, sec.MaxMs)
		}
		b.WriteString(" ms\n")
	}
	if l := r.BatchRoundTrip; l != nil {
		fmt.Fprintf(&b, "  batch post:  p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", l.P50, l.P99, l.Max)
	}
	for _, p := range []struct {
		name string
		cpu  CPU
	}{{"edge CPU", r.EdgeCPU}, {"bench CPU", r.BenchCPU}} {
		fmt.Fprintf(&b, "  %-11s  %.2fs (%.2f cores)", p.name+":", p.cpu.Seconds, p.cpu.Cores)
		if p.cpu.PerDeliveryMicros > 0 {
			fmt.Fprintf(&b, ", %.2f us/delivery", p.cpu.PerDeliveryMicros)
		}
		if p.cpu.PerEventMicros > 0 {
			fmt.Fprintf(&b, ", %.2f us/event", p.cpu.PerEventMicros)
		}
		b.WriteByte('\n')
	}
	others := "neither the edge nor the bench"
	if c := r.AbuseCPU; c != nil {
		fmt.Fprintf(&b, "  abuse CPU:   %.2fs (%.2f cores), the abusive clients' process\n", c.Seconds, c.Cores)
		others = "neither the edge, the bench nor the abusive clients"
	}
	fmt.Fprintf(&b, "  machine:     %d cores, %.2f busy, of which %.2f %s\n", r.Machine.Cores, r.Machine.Busy, r.Machine.Others, others)
	if m := r.Memory; m != nil {
		kib := func(v float64) float64 { return v / 1024 }
		fmt.Fprintf(&b, "  memory:      RSS %.1f -> %.1f MiB, heap %.1f -> %.1f MiB, stacks %.1f -> %.1f MiB\n",
			kib(float64(m.Without.RSS))/1024, kib(float64(m.With.RSS))/1024,
			kib(float64(m.Without.HeapInuse))/1024, kib(float64(m.With.HeapInuse))/1024,
			kib(float64(m.Without.StackInuse))/1024, kib(float64(m.With.StackInuse))/1024)
		p := m.PerConnection
		fmt.Fprintf(&b, "  per idle connection: RSS %.1f KiB, heap %.1f KiB, stack %.1f KiB\n", kib(p.RSS), kib(p.HeapInuse), kib(p.StackInuse))
	}
	if a := r.Abuse; a != nil {
		fmt.Fprintf(&b, "  abuse:       %d clients: %d silent (%d closed 4002), %d oversized (%d closed 1009), %d without pongs, %d looping with one token (%d connections: %d streamed, %d closed 4005, %d closed 4029)\n",
			a.Clients, a.Silent, a.SilentClosed, a.Oversized, a.OversizedClosed, a.NoPong, a.Loopers, a.Reconnects, a.Streamed, a.TooMany, a.RateLimited)
		fmt.Fprintf(&b, "  after abuse: every abusive socket gone %.2fs after the window, the edge's goroutines back to %.0f (+%d) %.2fs after it\n", a.GoneSeconds, a.GoroutinesBefore, goroutineMargin, a.QuietSeconds)
	}
	if m := r.MemoryAfterWindow; m != nil && r.Memory != nil {
		w := r.Memory.With
		fmt.Fprintf(&b, "  after:       live heap %.1f MiB (%.1f MiB with the clients before the window), heap in use %.1f MiB (%.1f), RSS %.1f MiB (%.1f)\n",
			mib(m.HeapLive), mib(w.HeapLive), mib(m.HeapInuse), mib(w.HeapInuse), mib(m.RSS), mib(w.RSS))
	}
	e := r.Edge
	fmt.Fprintf(&b, "  edge:        pid %d, open files limit %d, %v connections, %v frames in %v messages", e.Pid, e.OpenFiles, e.Connections, e.Delivered, e.Messages)
	if e.FramesPerMessage > 0 {
		fmt.Fprintf(&b, " (%.2f per message)", e.FramesPerMessage)
	}
	fmt.Fprintf(&b, ", %v evicted\n", e.Evicted)
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "FAIL: %s\n", f)
	}
	_, _ = io.WriteString(w, b.String())
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }
