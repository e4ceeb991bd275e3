package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestProcStatCPUIsUserPlusSystemTime(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    time.Duration
		wantErr bool
	}{
		{"plain name", "1234 (caddy) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 1000 500", 3 * time.Second, false},
		{"name with spaces and parentheses", "77 (a (b) c) R 1 77 77 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 1 1", 100 * time.Millisecond, false},
		{"no name", "1234 caddy S 1", 0, true},
		{"too few fields", "1234 (caddy) S 1 2 3", 0, true},
		{"time not a number", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 a 3 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.line))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStatCPU = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestMachineBusyTimeLeavesOutIdleAndIOWait(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{"every field", "cpu  100 20 30 5000 70 1 2 3 0 0\ncpu0 50 10 15 2500 35 0 1 1 0 0\n", 1560 * time.Millisecond, false},
		{"no steal column", "cpu  100 0 100 900 0\n", 2 * time.Second, false},
		{"per-processor line first", "cpu0 1 2 3 4 5\n", 0, true},
		{"too short", "cpu  1 2\n", 0, true},
		{"not a number", "cpu  1 x 3 4 5\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMachineBusy([]byte(tt.stat))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseMachineBusy = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if busy, err := machineBusy(); err != nil || busy <= 0 {
		t.Errorf("machineBusy() = %v, %v; want a positive time", busy, err)
	}
}

func TestThisProcessCanBeMeasured(t *testing.T) {
	// Burn some CPU so that the tick-based count moves past zero.
	deadline := time.Now().Add(50 * time.Millisecond)
	for n := 0; time.Now().Before(deadline); n++ {
		_ = n * n
	}
	if cpu, err := processCPU(os.Getpid()); err != nil || cpu <= 0 {
		t.Errorf("processCPU(self) = %v, %v; want a positive time", cpu, err)
	}
	if self := selfCPU(); self <= 0 {
		t.Errorf("selfCPU = %v, want a positive time", self)
	}
	if rss, err := processRSS(os.Getpid()); err != nil || rss < 1<<20 {
		t.Errorf("processRSS(self) = %d, %v; want at least 1 MiB", rss, err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if got, err := openFileLimit(os.Getpid()); err != nil || got != lim.Cur {
		t.Errorf("openFileLimit(self) = %d, %v; want the soft limit %d", got, err, lim.Cur)
	}
}

func TestRaisingTheFileLimitFailsClearlyBeyondTheHardLimit(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if got, err := raiseFileLimit(lim.Max); err != nil || got != lim.Max {
		t.Errorf("raiseFileLimit(hard limit) = %d, %v; want %d", got, err, lim.Max)
	}
	if _, err := raiseFileLimit(lim.Max + 1); err == nil || !strings.Contains(err.Error(), "use fewer clients") {
		t.Errorf("raiseFileLimit(beyond the hard limit) = %v, want an error that says what to do", err)
	}
}

func TestMetricsKeepTheUnlabelledSeries(t *testing.T) {
	text := `# HELP go_memstats_heap_inuse_bytes Number of heap bytes that are in use.
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 7.815168e+06
# HELP go_memstats_heap_alloc_bytes Number of heap bytes allocated and currently in use.
# TYPE go_memstats_heap_alloc_bytes gauge
go_memstats_heap_alloc_bytes 6.5e+06
go_memstats_stack_inuse_bytes 655360
coven_ws_connections 1000
coven_events_delivered_total 502000 1700000000000
caddy_http_requests_total{handler="coven_events",server="srv0"} 501
`
	tests := []struct {
		name   string
		series string
		want   float64
		ok     bool
	}{
		{"float notation", metricHeapInuse, 7815168, true},
		{"integer", metricStackInuse, 655360, true},
		{"live heap", metricHeapAlloc, 6.5e6, true},
		{"with a timestamp", metricDelivered, 502000, true},
		{"labelled series are left out", "caddy_http_requests_total", 0, false},
		{"absent", metricEvicted, 0, false},
	}
	m, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := m[tt.series]
			if ok != tt.ok || got != tt.want {
				t.Errorf("%s = %v, %v; want %v, %v", tt.series, got, ok, tt.want, tt.ok)
			}
		})
	}
	if err := m.require(metricConnections, metricEvicted); err == nil || !strings.Contains(err.Error(), metricEvicted) {
		t.Errorf("require: %v, want the missing series named", err)
	}
	if _, err := parseMetrics(strings.NewReader("broken_metric x\n")); err == nil {
		t.Error("a value that is not a number was accepted")
	}
}
