package main

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/internal/wsframe"
)

// rawServer accepts TCP connections on 127.0.0.1 and answers each upgrade request with what respond
// returns for its key (nothing if nil), then holds the connection until the client closes it. It
// returns the server's ws:// URL.
func rawServer(t *testing.T, respond func(key string) []byte) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			r := bufio.NewReader(conn)
			if req, err := http.ReadRequest(r); err == nil {
				if b := respond(req.Header.Get("Sec-WebSocket-Key")); b != nil {
					conn.Write(b)
				}
				r.WriteTo(io.Discard) // until the client closes
			}
			conn.Close()
		}
	}()
	return "ws://" + l.Addr().String() + "/ws"
}

func switching(key string) string {
	sum := sha1.Sum([]byte(key + acceptGUID))
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"
}

func TestTheEpollClientRefusesAFailedUpgrade(t *testing.T) {
	tests := []struct {
		name    string
		respond func(key string) []byte
		want    string
	}{
		{"refused", func(string) []byte { return []byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n") }, "upgrade refused: HTTP/1.1 403 Forbidden"},
		{"wrong accept", func(string) []byte { return []byte(switching("another key")) }, "Sec-WebSocket-Accept"},
		{"with compression", func(key string) []byte {
			return []byte(strings.Replace(switching(key), "\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n", 1))
		}, "extensions"},
		{"no answer", func(string) []byte { return nil }, os.ErrDeadlineExceeded.Error()},
		{"not HTTP", func(string) []byte { return []byte("SSH-2.0-OpenSSH\r\n\r\n") }, "reading the upgrade response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := rawServer(t, tt.respond)
			cio, err := newEpollIO()
			if err != nil {
				t.Fatal(err)
			}
			defer cio.close()
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			err = cio.dial(ctx, url, "token", newClient(newClock(), nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("dial: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestTheEpollClientReadsWhatFollowsTheUpgradeAndEndsOnABadFrame(t *testing.T) {
	hello := serverFrame(true, wsframe.OpText, `{"type":"hello","epoch":"e","seq":3}`)
	masked := serverFrame(true, wsframe.OpText, `{"v":1,"epoch":"e","seq":4}`)
	masked[1] |= 0x80
	url := rawServer(t, func(key string) []byte { return append(append([]byte(switching(key)), hello...), masked...) })
	cio, err := newEpollIO()
	if err != nil {
		t.Fatal(err)
	}
	defer cio.close()
	c := newClient(newClock(), nil)
	if err := cio.dial(context.Background(), url, "token", c); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the client to end", func() bool { return !c.alive() })
	if err := c.lostError(); err == nil || !strings.Contains(err.Error(), "masked frame from the server") || !c.helloed.Load() {
		t.Fatalf("hello %v, lost: %v", c.helloed.Load(), err)
	}
}

// openFiles counts this process's open descriptors.
func openFiles(t *testing.T) int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

func TestAClosedFleetLeavesNoSocketOrGoroutine(t *testing.T) {
	const clients = 20
	forEachClientIO(t, func(t *testing.T, ctx context.Context, kind ClientIO, srv *testServer) {
		files, goroutines := openFiles(t), runtime.NumGoroutine()
		f, err := connect(ctx, kind, clients, 4, srv.wsURL(), sameToken("token"), newClock(), nil)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "every event", func() bool {
			return f.count(func(c *client) bool { return c.lastSeq.Load() == lastTestSeq }) == clients
		})
		if n := openFiles(t); n < files+clients {
			t.Fatalf("%d descriptors open with %d clients, %d before", n, clients, files)
		}
		f.close()
		waitFor(t, "the descriptors and goroutines to go", func() bool {
			return openFiles(t) <= files && runtime.NumGoroutine() <= goroutines
		})
		if n, err := f.lost(); n > 0 {
			t.Errorf("%d clients reported lost after the bench closed them: %v", n, err)
		}
	})
}

func TestAClientClosedByTheBenchIsNotLost(t *testing.T) {
	srv := newTestServer(t)
	f, err := connect(context.Background(), ClientIOEpoll, 1, 1, srv.wsURL(), sameToken("token"), newClock(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := f.clients[0]
	waitFor(t, "the hello", c.helloed.Load)
	f.close()
	f.close() // as run does, once in finish and once on the way out
	if c.alive() || c.lostError() != nil || !errors.Is(c.ping(context.Background()), net.ErrClosed) {
		t.Fatalf("alive %v, lost %v after close", c.alive(), c.lostError())
	}
}
