package main

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFlagsTakeDefaultsThatDependOnTheMode(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want Options
	}{
		{"fanout by default", nil, Options{Mode: ModeFanout, Clients: DefaultClients, Batch: DefaultFanoutBatch}},
		{"ingest without clients", []string{"-mode", "ingest"}, Options{Mode: ModeIngest, Clients: 0, Batch: DefaultIngestBatch}},
		{"ingest with clients", []string{"-mode", "ingest", "-clients", "3"}, Options{Mode: ModeIngest, Clients: 3, Batch: DefaultIngestBatch}},
		{"idle", []string{"-mode", "idle", "-clients", "10000"}, Options{Mode: ModeIdle, Clients: 10000, Batch: DefaultFanoutBatch}},
		{"explicit batch", []string{"-batch", "10", "-rate", "500"}, Options{Mode: ModeFanout, Clients: DefaultClients, Batch: 10, Rate: 500}},
		{"a soak", []string{"-clients", "1000", "-abusive", "2000"}, Options{Mode: ModeFanout, Clients: 1000, Batch: DefaultFanoutBatch, Abusive: 2000, SoakTimers: true}},
		{"the clean run of a soak", []string{"-clients", "1000", "-soak-timers"}, Options{Mode: ModeFanout, Clients: 1000, Batch: DefaultFanoutBatch, SoakTimers: true}},
		{"unpaced accepts", []string{"-accept-rate", "0"}, Options{Mode: ModeFanout, Clients: DefaultClients, Batch: DefaultFanoutBatch, AcceptRate: -1}},
		{"another pace", []string{"-accept-rate", "50", "-accept-burst", "5"}, Options{Mode: ModeFanout, Clients: DefaultClients, Batch: DefaultFanoutBatch, AcceptRate: 50, AcceptBurst: 5}},
		{"longest queue", []string{"-mode", "ingest", "-clients", "3", "-queue-length", "65536"}, Options{Mode: ModeIngest, Clients: 3, Batch: DefaultIngestBatch, QueueLength: 65536}},
		{"abusive clients at the bench's priority", []string{"-abusive", "20", "-abuse-nice", "0"}, Options{Mode: ModeFanout, Clients: DefaultClients, Batch: DefaultFanoutBatch, Abusive: 20, AbuseNice: -1, SoakTimers: true}},
		{"goroutine clients", []string{"-client-io", "go"}, Options{Mode: ModeFanout, Clients: DefaultClients, Batch: DefaultFanoutBatch, ClientIO: ClientIOGo}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := parseFlags(tt.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want.Rate == 0 {
				want.Rate = DefaultRate
			}
			if want.ClientIO == "" {
				want.ClientIO = DefaultClientIO
			}
			want.Duration, want.PayloadBytes = DefaultDuration, DefaultPayloadBytes
			want.DialParallel, want.ConnectTimeout = DefaultDialParallel, DefaultConnectTimeout
			want.DrainTimeout, want.Settle = DefaultDrainTimeout, DefaultSettle
			switch want.AcceptRate {
			case 0:
				want.AcceptRate, want.AcceptBurst = ProductionAcceptRate, ProductionAcceptBurst
			case -1: // asked for 0
				want.AcceptRate, want.AcceptBurst = 0, ProductionAcceptBurst
			}
			switch want.AbuseNice {
			case 0:
				want.AbuseNice = DefaultAbuseNice
			case -1: // asked for 0
				want.AbuseNice = 0
			}
			if got != want {
				t.Errorf("options\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestBadFlagsAreRefusedWithTheReason(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown mode", []string{"-mode", "burst"}, `mode "burst"`},
		{"no clients to fan out to", []string{"-clients", "0"}, "fanout mode needs at least one client"},
		{"no clients to hold", []string{"-mode", "idle", "-clients", "0"}, "idle mode needs at least one client"},
		{"negative clients", []string{"-clients", "-1"}, "clients -1"},
		{"too many clients", []string{"-clients", "100001"}, "clients 100001: want 0 to 100000"},
		{"zero rate", []string{"-rate", "0"}, "-rate must not be 0"},
		{"rate too high", []string{"-rate", "1000001"}, "rate 1000001"},
		{"zero duration", []string{"-duration", "0s"}, "-duration must not be 0"},
		{"duration too long", []string{"-duration", "2h"}, "duration 2h0m0s"},
		{"batch too large", []string{"-batch", "1001"}, "batch 1001: want 1 to 1000"},
		{"zero batch", []string{"-batch", "0"}, "-batch must not be 0"},
		{"fewer events than a batch", []string{"-rate", "5", "-duration", "1s", "-batch", "10"}, "fewer than one batch"},
		{"negative abusive clients", []string{"-abusive", "-1"}, "abusive clients -1"},
		{"abusive clients outside fanout", []string{"-mode", "idle", "-clients", "5", "-abusive", "5"}, "not in idle mode"},
		{"negative niceness", []string{"-abuse-nice", "-5"}, "abuse niceness -5: want 0"},
		{"niceness beyond 19", []string{"-abuse-nice", "20"}, "abuse niceness 20"},
		{"negative accept rate", []string{"-accept-rate", "-1"}, "accept rate -1: want 0 (unpaced)"},
		{"accept rate too high", []string{"-accept-rate", "1000001"}, "accept rate 1000001"},
		{"no burst", []string{"-accept-burst", "0"}, "accept burst 0: want 1"},
		{"soak timers outside fanout", []string{"-mode", "idle", "-clients", "5", "-soak-timers"}, "the soak's timers go with a fanout window, not idle mode"},
		{"negative queue length", []string{"-queue-length", "-1"}, "queue length -1"},
		{"queue longer than the edge allows", []string{"-queue-length", "65537"}, "queue length 65537: want 0 (the edge's default) to 65536 frames"},
		{"too many events", []string{"-rate", "1000000", "-duration", "20s"}, "at most 10000000 per run"},
		{"payload too small", []string{"-payload", "10"}, "payload size 10 bytes is out of range"},
		{"dial parallelism too high", []string{"-dial-parallel", "5000"}, "dial parallelism 5000"},
		{"negative timeout", []string{"-drain-timeout", "-1s"}, "must not be negative"},
		{"unknown client I/O", []string{"-client-io", "uring"}, `client I/O "uring": want epoll or go`},
		{"stray argument", []string{"fanout"}, "unexpected arguments"},
		{"unknown flag", []string{"-speed", "9"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parseFlags(tt.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseFlags(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestEpollClientIOIsForLinuxOnly(t *testing.T) {
	opts, _, err := parseFlags([]string{"-client-io", "epoll"}, io.Discard)
	switch {
	case epollSupported && (err != nil || opts.ClientIO != ClientIOEpoll):
		t.Errorf("client I/O %q, error %v", opts.ClientIO, err)
	case !epollSupported && (err == nil || !strings.Contains(err.Error(), "needs Linux")):
		t.Errorf("error %v, want one saying epoll needs Linux", err)
	}
}

func TestFanoutPostsWholeBatchesAtTheRate(t *testing.T) {
	tests := []struct {
		rate, batch int
		duration    time.Duration
		want        int
	}{
		{50, 1, 30 * time.Second, 1500},
		{50, 7, 2 * time.Second, 98},
		{1000, 100, 1500 * time.Millisecond, 1500},
	}
	for _, tt := range tests {
		o := Options{Rate: tt.rate, Batch: tt.batch, Duration: tt.duration}
		if got := o.measuredEvents(); got != tt.want {
			t.Errorf("rate %d, batch %d, %v: %d events, want %d", tt.rate, tt.batch, tt.duration, got, tt.want)
		}
	}
}

func TestTheAbusiveClientsProcessRefusesABadConfiguration(t *testing.T) {
	for _, in := range []string{"", "not json\n"} {
		var out, errOut strings.Builder
		if code := abuseChildMain(strings.NewReader(in), &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "configuration") || out.Len() != 0 {
			t.Errorf("input %q: exit %d, output %q, errors %q", in, code, out.String(), errOut.String())
		}
	}
}

// The bench's edge keeps the production Caddyfile's pace of new connections.
func TestTheAcceptPaceIsTheProductionCaddyfiles(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`coven_accept \{\s*rate (\d+)\s*burst (\d+)`).FindSubmatch(src)
	if m == nil {
		t.Fatal("no coven_accept { rate … burst … } in the production Caddyfile")
	}
	if rate, burst := string(m[1]), string(m[2]); rate != strconv.Itoa(ProductionAcceptRate) || burst != strconv.Itoa(ProductionAcceptBurst) {
		t.Fatalf("the production Caddyfile paces at %s/s, burst %s; the bench at %d/s, burst %d", rate, burst, ProductionAcceptRate, ProductionAcceptBurst)
	}
}
