package stream

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spellcoven/gateway/auth"
	"github.com/spellcoven/gateway/auth/authtest"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLimit bounds every wait in these tests; nothing legitimate takes close to it.
const waitLimit = 15 * time.Second

const (
	testGuild    = "100000000000000001"
	testAudience = "spellcoven"
	testEpoch    = "ep1"
)

// counts records what the Observer is told.
type counts struct {
	mu                        sync.Mutex
	rejected, failed, dropped map[string]int
}

func (c *counts) observer() Observer {
	c.rejected, c.failed, c.dropped = map[string]int{}, map[string]int{}, map[string]int{}
	add := func(m map[string]int) func(string) {
		return func(r string) {
			c.mu.Lock()
			m[r]++
			c.mu.Unlock()
		}
	}
	return Observer{Rejected: add(c.rejected), AuthFailed: add(c.failed), Dropped: add(c.dropped)}
}

func (c *counts) get(m *map[string]int, reason string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return (*m)[reason]
}

// rig is a Server on an httptest listener over a real hub and a real verifier.
type rig struct {
	t      *testing.T
	idp    *authtest.Server
	hub    *hub.Hub
	srv    *Server
	http   *httptest.Server
	counts *counts
	next   uint64 // seq of the last event ingested
	dialer net.Dialer
}

func newRig(t *testing.T, cfg Config) *rig { return newRigWith(t, cfg, rigOptions{}) }

type rigOptions struct {
	verifier func(*auth.Config) // changes the verifier's configuration
	lateHub  bool               // the hub is not started: the test starts it (with r.start)
	// sendBuffer, when set, is the server sockets' SO_SNDBUF: a small one fills after a few frames.
	sendBuffer int
}

// newRigWith is newRig with options.
func newRigWith(t *testing.T, cfg Config, o rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, idp: authtest.NewTestServer(t), counts: &counts{}}
	if cfg.RefusalDelay == 0 {
		cfg.RefusalDelay = time.Millisecond // refusals at once, but for TestRefusalIsHeld
	}
	vcfg := auth.Config{JWKSURL: r.idp.JWKSURL(), Issuer: r.idp.Issuer.URL(), Audiences: []string{testAudience}}
	if o.verifier != nil {
		o.verifier(&vcfg)
	}
	v, err := auth.New(vcfg)
	if err != nil {
		t.Fatal(err)
	}
	r.hub, err = hub.New(hub.Config{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !o.lateHub {
		r.start()
	}
	r.srv, err = NewServer(r.hub, v, nil, cfg, r.counts.observer(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.http = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var claims *auth.Claims
		if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok {
			if claims, err = v.Verify(req.Context(), tok); err != nil {
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
		}
		ip, _, _ := net.SplitHostPort(req.RemoteAddr)
		adm, reason := r.srv.Admit(ip)
		if adm == nil {
			http.Error(w, reason, http.StatusTooManyRequests)
			return
		}
		c, err := Accept(w, req, nil)
		if err != nil {
			adm.Release()
			return
		}
		r.srv.Serve(c, adm, claims, req.RemoteAddr)
	}))
	if o.sendBuffer > 0 {
		r.http.Config.ConnState = func(c net.Conn, st http.ConnState) {
			if tc, ok := c.(*net.TCPConn); ok && st == http.StateNew {
				_ = tc.SetWriteBuffer(o.sendBuffer)
			}
		}
	}
	r.http.Start()
	t.Cleanup(func() {
		r.http.Close()
		r.hub.Close() // closes every stream 1012
		done := make(chan struct{})
		go func() { r.srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(waitLimit):
			t.Errorf("sessions still running %v after the hub closed", waitLimit)
		}
		v.Stop()
	})
	if !o.lateHub {
		r.ingest(snapshot(t))
	}
	return r
}

// start starts the hub.
func (r *rig) start() {
	r.t.Helper()
	if err := r.hub.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

func mustEvent(t testing.TB, seq uint64, typ event.Type, p any) event.Event {
	t.Helper()
	e, err := event.New(event.Position{Epoch: testEpoch, Seq: seq}, testGuild, time.Now(), typ, p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func snapshot(t testing.TB) event.Event {
	return mustEvent(t, 1, event.Snapshot, &event.SnapshotPayload{Rooms: []event.RoomState{{Room: event.Room{ID: "10", Name: "Table"}, Members: []event.Member{}}}})
}

// ingest applies events (seq is set by ingest for the non-snapshot ones).
func (r *rig) ingest(evs ...event.Event) {
	r.t.Helper()
	for i := range evs {
		if evs[i].Type == event.Snapshot {
			r.next = evs[i].Seq
			continue
		}
		r.next++
		evs[i] = mustEvent(r.t, r.next, evs[i].Type, json.RawMessage(evs[i].Data))
	}
	if _, err := r.hub.Ingest(context.Background(), &event.Batch{Epoch: testEpoch, Events: evs}); err != nil {
		r.t.Fatal(err)
	}
}

// roomRenamed is an event for ingest to number.
func (r *rig) roomRenamed(name string) event.Event {
	return mustEvent(r.t, 1, event.RoomUpdated, &event.RoomPayload{Room: event.Room{ID: "10", Name: name}})
}

func (r *rig) token(sub string, ttl time.Duration) string {
	r.t.Helper()
	tok, err := r.idp.Issuer.MintFor(sub, testAudience, ttl, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	return tok
}

// waitFor polls cond until it holds, failing the test with what after waitLimit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitLimit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitEnded waits until the hub holds no subscriber and every session has ended.
func (r *rig) waitEnded() {
	r.t.Helper()
	waitFor(r.t, "every subscription removed", func() bool { return r.hub.Stats().Subscribers == 0 })
	done := make(chan struct{})
	go func() { r.srv.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitLimit):
		r.t.Fatalf("a session is still running %v after its end", waitLimit)
	}
}

// frame is a server message as the tests read it.
type frame struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Resumed bool   `json:"resumed"`
	Seq     uint64 `json:"seq"`
}

// client is a WebSocket client over a raw TCP connection, so that the tests decide everything it does:
// whether it answers pings, what it sends, when it stops reading.
type client struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
	// pongs makes the client answer every ping it reads.
	pongs bool
	pings int
	// queued holds the frames of a message read but not yet returned (a message may join several).
	queued []frame
}

// dial connects to the rig with the given extra headers.
func (r *rig) dial(header http.Header) *client {
	r.t.Helper()
	c, resp := r.upgrade(header)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		r.t.Fatalf("upgrade answered %s", resp.Status)
	}
	return c
}

// upgrade asks for an upgrade and returns the answer, and the client if it was upgraded.
func (r *rig) upgrade(header http.Header) (*client, *http.Response) {
	r.t.Helper()
	conn, err := r.dialer.Dial("tcp", r.http.Listener.Addr().String())
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { conn.Close() })
	var req strings.Builder
	fmt.Fprintf(&req, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", r.http.Listener.Addr())
	req.WriteString("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&req, "%s: %s\r\n", k, v)
		}
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		r.t.Fatal(err)
	}
	c := &client{t: r.t, conn: conn, br: bufio.NewReader(conn), pongs: true}
	conn.SetReadDeadline(time.Now().Add(waitLimit))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body.Close()
		conn.Close()
		return nil, resp
	}
	return c, resp
}

// connect dials, authenticates as sub and reads the hello.
func (r *rig) connect(sub string) *client {
	r.t.Helper()
	c := r.dial(nil)
	c.sendJSON(map[string]any{"type": "auth", "token": r.token(sub, time.Hour)})
	if f := c.next(); f.Type != "hello" {
		r.t.Fatalf("first frame %+v, want hello", f)
	}
	return c
}

const (
	opText   = 1
	opBinary = 2
	opClose  = 8
	opPing   = 9
	opPong   = 10
)

// send writes one masked frame.
func (c *client) send(op byte, payload []byte) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(waitLimit))
	if _, err := c.conn.Write(maskedFrame(op, payload)); err != nil && !errors.Is(err, net.ErrClosed) {
		c.t.Logf("client write: %v", err)
	}
}

// maskedFrame is one frame as a client sends it.
func maskedFrame(op byte, payload []byte) []byte {
	hdr := []byte{0x80 | op}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n < 1<<16:
		hdr = append(hdr, 0x80|126, byte(n>>8), byte(n))
	default:
		hdr = binary.BigEndian.AppendUint64(append(hdr, 0x80|127), uint64(n))
	}
	var key [4]byte
	rand.Read(key[:])
	hdr = append(hdr, key[:]...)
	masked := make([]byte, len(payload))
	for i, b := range payload {
		masked[i] = b ^ key[i%4]
	}
	return append(hdr, masked...)
}

func (c *client) sendJSON(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(opText, b)
}

// readFrame reads one frame; io.EOF (or a reset) when the server has closed the connection.
func (c *client) readFrame() (op byte, payload []byte, err error) {
	c.conn.SetReadDeadline(time.Now().Add(waitLimit))
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(c.br, payload); err != nil {
		return 0, nil, err
	}
	return h[0] & 0x0f, payload, nil
}

// next returns the next frame of the stream, answering pings on the way if c.pongs.
func (c *client) next() frame {
	c.t.Helper()
	for len(c.queued) == 0 {
		op, p, err := c.readFrame()
		if err != nil {
			c.t.Fatalf("reading the stream: %v", err)
		}
		switch op {
		case opPing:
			c.pings++
			if c.pongs {
				c.send(opPong, p)
			}
		case opClose:
			c.t.Fatalf("closed with %d %q, want a frame", closeCode(p), closeReason(p))
		default:
			c.queued = c.split(p)
		}
	}
	f := c.queued[0]
	c.queued = c.queued[1:]
	return f
}

// split parses the frames of one message, joined by '\n'.
func (c *client) split(msg []byte) []frame {
	c.t.Helper()
	var out []frame
	for _, line := range strings.Split(string(msg), "\n") {
		var f frame
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			c.t.Fatalf("frame %q: %v", line, err)
		}
		out = append(out, f)
	}
	return out
}

// closed reads until the server's close frame and the end of the connection. It returns the close code
// (0 if the connection ended without one) and the error frames and events read before it.
func (c *client) closed() (code int, before []frame) {
	c.t.Helper()
	gotClose := false
	for {
		op, p, err := c.readFrame()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatalf("the connection is still open %v later (close frame: %v, code %d)", waitLimit, gotClose, code)
			}
			return code, before // EOF or reset: the server closed the TCP connection
		}
		switch {
		case gotClose:
			c.t.Fatalf("a frame (opcode %d) after the close frame", op)
		case op == opClose:
			gotClose, code = true, closeCode(p)
			c.send(opClose, p[:min(len(p), 2)]) // answer, as a browser does
		case op == opPing:
			c.pings++
			if c.pongs {
				c.send(opPong, p)
			}
		default:
			before = append(before, c.split(p)...)
		}
	}
}

// expectClose checks that the server sends the error frame errCode (if not empty), then closes with
// code, and that the connection ends.
func (c *client) expectClose(code int, errCode string) {
	c.t.Helper()
	got, before := c.closed()
	if got != code {
		c.t.Fatalf("closed with %d, want %d (frames before: %+v)", got, code, before)
	}
	if errCode == "" {
		return
	}
	if len(before) == 0 || before[len(before)-1].Type != "error" || before[len(before)-1].Code != errCode {
		c.t.Fatalf("frames before the close %+v, want an error %q last", before, errCode)
	}
}

func closeCode(p []byte) int {
	if len(p) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(p))
}

func closeReason(p []byte) string {
	if len(p) < 2 {
		return ""
	}
	return string(p[2:])
}
