package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestTheTextReportSaysWhatWentWrong(t *testing.T) {
	exact := true
	tests := []struct {
		name    string
		report  func() *Report
		want    []string
		notWant []string
	}{
		{
			name: "a fanout that kept its rate",
			report: func() *Report {
				r := newReport(Options{Mode: ModeFanout, Clients: 2, Rate: 50, Batch: 1, PayloadBytes: 200, ClientIO: ClientIOEpoll})
				r.Events, r.Deliveries, r.ExactlyOnce, r.Answered = 490, 980, &exact, 2
				r.setWindow(10*time.Second, time.Second, time.Second, 3*time.Second)
				r.finishRates()
				return r
			},
			want:    []string{"2 clients (epoll), batch 1", "target 50 events/s", "49.0 events/s accepted", "exactly once, in order: true; 2/2", "1.00s (0.10 cores)", "2 cores, 0.30 busy, of which 0.10"},
			notWant: []string{"WARNING", "FAIL"},
		},
		{
			name: "a fanout that fell behind",
			report: func() *Report {
				r := newReport(Options{Mode: ModeFanout, Clients: 2, Rate: 50, Batch: 1, PayloadBytes: 200})
				r.Events = 470
				r.setWindow(10*time.Second, 0, 0, 0)
				r.finishRates()
				return r
			},
			want: []string{"WARNING:     the publisher fell behind the target of 50 events/s"},
		},
		{
			name: "a failed idle run",
			report: func() *Report {
				r := newReport(Options{Mode: ModeIdle, Clients: 3})
				r.fail("%d of %d clients did not get a pong", 1, 3)
				return r
			},
			want:    []string{"mode idle: 3 clients, window", "FAIL: 1 of 3 clients did not get a pong"},
			notWant: []string{"batch", "events:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			tt.report().writeText(&b)
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, b.String())
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(b.String(), w) {
					t.Errorf("report has %q:\n%s", w, b.String())
				}
			}
		})
	}
}
