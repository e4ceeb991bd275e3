package proc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestUnaskedExitIsReported(t *testing.T) {
	exited := make(chan error, 1)
	p, err := Start("crasher", "/bin/sh", []string{"-c", "echo last words; exit 3"}, Options{OnExit: func(err error) { exited <- err }})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if !strings.Contains(err.Error(), "crasher exited") || !strings.Contains(err.Error(), "last words") {
			t.Fatalf("exit reported as %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the exit was not reported")
	}
	if p.ExitCode() != 3 {
		t.Errorf("exit code %d", p.ExitCode())
	}
}

func TestStop(t *testing.T) {
	reported := make(chan error, 1)
	p, err := Start("sleeper", "/bin/sleep", []string{"60"}, Options{OnExit: func(err error) { reported <- err }})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(syscall.SIGTERM, 10*time.Second); err == nil || !strings.Contains(err.Error(), "stopped with") {
		t.Errorf("a process ended by SIGTERM (status: signal) stops with %v", err)
	}
	select {
	case err := <-reported:
		t.Fatalf("an asked-for exit was reported: %v", err)
	default:
	}
	// One that ignores SIGTERM is killed after the grace, with its own children (its group).
	stubborn, err := Start("stubborn", "/bin/sh", []string{"-c", "trap '' TERM; echo ready; sleep 60 & wait"}, Options{Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stubborn.tail.String(), "ready") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := stubborn.Stop(syscall.SIGTERM, 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "was killed") {
		t.Errorf("stubborn process: %v", err)
	}
	if !stubborn.Exited() {
		t.Error("not exited after Stop")
	}
}

func TestWaitHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }))
	defer srv.Close()
	p, err := Start("sleeper", "/bin/sleep", []string{"60"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if err := p.WaitHTTP(context.Background(), srv.Client(), srv.URL, 10*time.Second); err != nil {
		t.Fatalf("an answering endpoint: %v", err)
	}
	// A process that exits before it answers: its exit, not a timeout.
	q, err := Start("quitter", "/bin/sh", []string{"-c", "echo cannot bind; exit 1"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = q.WaitHTTP(context.Background(), http.DefaultClient, "http://127.0.0.1:1/", time.Minute)
	if err == nil || !strings.Contains(err.Error(), "quitter exited") || !strings.Contains(err.Error(), "cannot bind") {
		t.Fatalf("wait on an exited process: %v", err)
	}
}
