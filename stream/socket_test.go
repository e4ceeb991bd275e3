package stream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/internal/wsframe"
)

// An auth message the client sends in the same packet as its upgrade request (net/http has read it
// into its buffer with the request) is not lost when the connection changes hands.
func TestAuthSentWithTheUpgradeIsRead(t *testing.T) {
	r := newRig(t, Config{})
	conn, err := net.Dial("tcp", r.http.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &client{t: t, conn: conn, br: bufio.NewReader(conn), pongs: true}
	var b strings.Builder
	fmt.Fprintf(&b, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", r.http.Listener.Addr())
	b.WriteString("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	auth, _ := json.Marshal(map[string]string{"type": "auth", "token": r.token("alice", time.Hour)})
	b.Write(maskedFrame(opText, auth))
	if _, err := conn.Write([]byte(b.String())); err != nil { // one write: the request and the auth message
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	if f := c.next(); f.Type != "hello" {
		t.Fatalf("first frame %+v, want hello", f)
	}
}

// A client that stops reading fills its socket: the frames the socket takes only in part are
// finished before anything else goes out (pings, every 10 ms, wait for them), so that when the
// client reads again it finds every event once, in order, in whole frames.
func TestFramesTheSocketTookInPartStayWhole(t *testing.T) {
	r := newRigWith(t, Config{PingInterval: 10 * time.Millisecond, PingTimeout: time.Minute}, rigOptions{sendBuffer: 4096})
	// A small receive window from the start (SO_RCVBUF before connecting).
	r.dialer.Control = func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
		return errors.Join(err, serr)
	}
	c := r.connect("alice")
	before := partialFrames.Load()
	// Stop reading while events of about 1 KiB arrive, until the server has written some only in part.
	const events = 120
	name := strings.Repeat("n", 90)
	var evs []event.Event
	for range events {
		evs = append(evs, r.roomRenamed(name))
	}
	for i := 0; i < events; i += 10 {
		r.ingest(evs[i : i+10]...)
	}
	waitFor(t, "a frame written in part", func() bool { return partialFrames.Load() > before })
	for want := uint64(2); want < 2+events; want++ {
		if f := c.next(); f.Type != "room.updated" || f.Seq != want {
			t.Fatalf("frame %+v, want room.updated %d", f, want)
		}
	}
}

// A frame the session writes itself (an error before a close) while the socket holds a hub frame
// only in part waits for the hub's writer to finish that frame: the client reads both whole, the
// hub's first. (Only the hub's writer may continue a partly written frame.)
func TestAFrameWrittenBesideAPartialHubFrameWaitsForIt(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialer := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
		return errors.Join(err, serr)
	}}
	client, err := dialer.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if err := server.(*net.TCPConn).SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	fc := newFrameConn(server)

	big := wsframe.Text(append(make([]byte, wsframe.MaxHeaderLen), strings.Repeat("e", 1<<20)...))
	n, err := fc.WriteFrameNow(big)
	if err != nil || n == 0 || n == len(big) {
		t.Fatalf("WriteFrameNow of 1 MiB to a socket nobody reads: %d of %d bytes, %v; want a part", n, len(big), err)
	}
	errMsg := []byte(`{"type":"error","code":"x"}`)
	written := make(chan error, 1)
	go func() { written <- fc.writeText(context.Background(), errMsg) }()

	read := make(chan []byte, 1)
	want := len(big) + 2 + len(errMsg)
	go func() {
		buf := make([]byte, want)
		_ = client.SetReadDeadline(time.Now().Add(30 * time.Second))
		k, _ := io.ReadFull(client, buf)
		read <- buf[:k]
	}()
	if err := fc.WriteFrame(context.Background(), big[n:]); err != nil { // the hub's writer
		t.Fatal(err)
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	got := <-read
	if len(got) != want {
		t.Fatalf("the client read %d bytes, want %d", len(got), want)
	}
	if !bytes.Equal(got[:len(big)], big) {
		t.Fatal("the hub's frame reached the client broken up")
	}
	if op, payload, ok := wsframe.Parse(got[len(big):]); !ok || op != wsframe.OpText || !bytes.Equal(payload, errMsg) {
		t.Fatalf("after the hub's frame: %q", got[len(big):])
	}
}
