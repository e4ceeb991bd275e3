package sandbox

import (
	"fmt"
	"strings"
	"testing"
)

func TestLogLinesShownWithoutVerbose(t *testing.T) {
	tests := []struct {
		name string
		line string
		want bool
	}{
		{"caddy info", "2026/01/02 03:04:05.678\tINFO\ttls\tcleaning storage unit", false},
		{"caddy debug", "2026/01/02 03:04:05.678\tDEBUG\thttp\tstarting server loop", false},
		{"caddy warning", "2026/01/02 03:04:05.678\tWARN\tpki\tcertificate expires soon", true},
		{"caddy error", "2026/01/02 03:04:05.678\tERROR\thttp.log.error\tdial tcp: refused", true},
		{"worker json info", `{"time":"2026-01-02T03:04:05Z","level":"INFO","msg":"delivered"}`, false},
		{"worker json warning", `{"time":"2026-01-02T03:04:05Z","level":"WARN","msg":"edge unreachable"}`, true},
		{"worker json error", `{"time":"2026-01-02T03:04:05Z","level":"ERROR","msg":"stopped"}`, true},
		{"emulator text info", `time=2026-01-02T03:04:05Z level=INFO msg="session identified"`, false},
		{"emulator text warning", `time=2026-01-02T03:04:05Z level=WARN msg="heartbeat missed"`, true},
		{"compiler error", "cmd/caddy/main.go:12:2: undefined: foo", true},
		{"panic", "panic: runtime error: index out of range", true},
		{"sandbox progress", "starting the worker", true},
		{"blank line", "   ", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := important(tt.line); got != tt.want {
				t.Fatalf("important(%q) = %v, want %v", tt.line, got, tt.want)
			}
		})
	}
}

func TestPartLogPrefixesWholeLinesAndKeepsTheLastOnes(t *testing.T) {
	var out strings.Builder
	sink := &logSink{w: &out}
	edge := sink.part("edge")
	// A line arrives in pieces; only complete lines are written.
	fmt.Fprint(edge, "2026/01/02 03:04:05.678\tWARN\tpki\tfirst ")
	if out.Len() != 0 {
		t.Fatalf("a partial line was written: %q", out.String())
	}
	fmt.Fprint(edge, "half\n2026/01/02 03:04:05.678\tINFO\thttp\tquiet\n")
	if want := "edge    | 2026/01/02 03:04:05.678\tWARN\tpki\tfirst half\n"; out.String() != want {
		t.Fatalf("wrote %q, want %q", out.String(), want)
	}
	for i := range tailLines + 5 {
		fmt.Fprintf(edge, "2026/01/02 03:04:05.678\tINFO\thttp\tline %d\n", i)
	}
	last := edge.lastLines()
	if n := strings.Count(last, "\n") + 1; n != tailLines {
		t.Fatalf("kept %d lines, want %d", n, tailLines)
	}
	if !strings.HasSuffix(last, fmt.Sprintf("line %d", tailLines+4)) || strings.Contains(last, "line 4\n") {
		t.Fatalf("kept the wrong lines:\n%s", last)
	}

	// A part writing without line breaks is cut into bounded lines.
	out.Reset()
	sink.verbose = true
	fmt.Fprint(edge, strings.Repeat("x", maxLogLine+10))
	if got := strings.Count(out.String(), "\n"); got != 1 || len(edge.partial) != 10 {
		t.Fatalf("an endless line made %d lines and left %d bytes pending", got, len(edge.partial))
	}
}

func TestRoutineWarningsShowOnlyWhenVerbose(t *testing.T) {
	for _, verbose := range []bool{false, true} {
		var out strings.Builder
		edge := (&logSink{w: &out, verbose: verbose}).part("edge", caddyRoutineWarnings...)
		fmt.Fprint(edge, "2026/01/02 03:04:05.678\tWARN\tadmin\tadmin endpoint disabled\n")
		fmt.Fprint(edge, "2026/01/02 03:04:05.678\tWARN\tpki\tsomething else\n")
		lines := strings.Count(out.String(), "\n")
		if want := map[bool]int{false: 1, true: 2}[verbose]; lines != want {
			t.Errorf("verbose=%v: %d lines shown, want %d:\n%s", verbose, lines, want, out.String())
		}
	}
}
