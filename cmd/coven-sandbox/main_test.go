package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spellcoven/gateway/internal/syncbuf"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// lockedBuffer collects output written from several goroutines.
type lockedBuffer = syncbuf.Buffer

func TestRunRefusesBadUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown flag", []string{"-nope"}, 2, "flag provided but not defined"},
		{"extra argument", []string{"serve"}, 2, `unexpected argument "serve"`},
		{"bad duration", []string{"-token-ttl", "soon"}, 2, "invalid value"},
		{"token lifetime too short", []string{"-token-ttl", "1s", "-repo", "../.."}, 1, "token lifetime 1s: want 10s to 24h0m0s"},
		{"port out of range", []string{"-port", "70000", "-repo", "../.."}, 1, "port 70000"},
		{"not the repository", []string{"-repo", "."}, 1, "not this repository's root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr lockedBuffer
			args := append([]string{"-dir", filepath.Join(t.TempDir(), "state")}, tt.args...)
			if code := run(context.Background(), args, &stdout, &stderr); code != tt.code {
				t.Fatalf("exit status %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("stderr does not say %q:\n%s", tt.want, stderr.String())
			}
			if stdout.String() != "" {
				t.Fatalf("printed %q", stdout.String())
			}
		})
	}
}

// The main job: start everything, print the URL and what to do, serve the page, stop cleanly on
// Ctrl-C, and without -verbose show no routine log line.
func TestRunServesUntilInterrupted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-port", strconv.Itoa(port), "-repo", "../..", "-dir", t.TempDir()}, &stdout, &stderr)
	}()
	url := "https://localhost:" + strconv.Itoa(port) + "/"
	deadline := time.After(8 * time.Minute) // a cold build of the edge takes minutes
	for !strings.Contains(stdout.String(), "Spell Coven sandbox is running: open "+url) {
		select {
		case code := <-done:
			t.Fatalf("run returned %d before serving; stderr:\n%s", code, stderr.String())
		case <-deadline:
			t.Fatalf("no welcome; stderr:\n%s", stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, want := range []string{"root.crt", "Sign in as a demo user", "Simulate Discord", "/dev-idp/token?user=alice", "Ctrl-C"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the welcome does not mention %q:\n%s", want, stdout.String())
		}
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "Spell Coven sandbox") {
		t.Fatalf("GET %s: %d %.200s", url, resp.StatusCode, page)
	}

	interrupt()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit status %d after Ctrl-C; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("still running a minute after Ctrl-C")
	}
	logs := stderr.String()
	if !strings.HasSuffix(logs, "coven-sandbox: stopped\n") {
		t.Fatalf("stderr does not end with the stop:\n%s", logs)
	}
	for _, routine := range []string{"\tINFO\t", `"level":"INFO"`, "level=INFO", "admin endpoint disabled", "byeee"} {
		if strings.Contains(logs, routine) {
			t.Errorf("without -verbose the log shows %q:\n%s", routine, logs)
		}
	}
}
