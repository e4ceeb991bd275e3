package discordgw

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// frame encodes one server frame; mask, if non-nil, masks it as a client would.
func frame(opcode byte, payload []byte, mask []byte) []byte {
	b := []byte{0x80 | opcode}
	maskBit := byte(0)
	if mask != nil {
		maskBit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, maskBit|byte(n))
	case n < 1<<16:
		b = append(b, maskBit|126, byte(n>>8), byte(n))
	default:
		b = append(b, maskBit|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if mask != nil {
		b = append(b, mask...)
		for i, c := range payload {
			b = append(b, c^mask[i%4])
		}
		return b
	}
	return append(b, payload...)
}

func closePayload(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

type seenFrame struct {
	opcode  byte
	payload string
}

// TestFrameScanner feeds a recorded server stream cut at every possible place and checks the
// scanner finds the same frames whatever the cuts.
func TestFrameScanner(t *testing.T) {
	response := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n"
	big := []byte(strings.Repeat("d", 70_000))
	stream := []byte(response)
	stream = append(stream, frame(opText, []byte(`{"op":10,"d":{"heartbeat_interval":41250}}`), nil)...)
	stream = append(stream, frame(0x2, big, nil)...)
	stream = append(stream, frame(opText, []byte(strings.Repeat("m", 300)), nil)...)
	stream = append(stream, frame(opText, []byte(`{"op":11}`), nil)...)
	stream = append(stream, frame(0x9, nil, nil)...) // ping, empty
	stream = append(stream, frame(opClose, closePayload(4004, "Authentication failed."), []byte{1, 2, 3, 4})...)
	want := fmt.Sprint([]seenFrame{
		{opText, `{"op":10,"d":{"heartbeat_interval":41250}}`},
		{opText, `{"op":11}`},
		{0x9, ""},
		{opClose, string(closePayload(4004, "Authentication failed."))},
	})
	cuts := []struct {
		name string
		size int
	}{{"whole", len(stream)}, {"byte by byte", 1}, {"pairs", 2}, {"sevens", 7}, {"4 KiB", 4096}}
	for _, c := range cuts {
		t.Run(c.name, func(t *testing.T) {
			var s frameScanner
			var got []seenFrame
			for p := stream; len(p) > 0; {
				n := min(c.size, len(p))
				s.feed(p[:n], func(op byte, payload []byte) { got = append(got, seenFrame{op, string(payload)}) })
				p = p[n:]
			}
			if fmt.Sprint(got) != want {
				t.Fatalf("frames\n got %v\nwant %v", got, want)
			}
		})
	}
}

func TestObservedConnReportsCloseAndAck(t *testing.T) {
	var codes []int
	acks := 0
	c := &observedConn{onClose: func(code int) { codes = append(codes, code) }, onAck: func(time.Duration) { acks++ }}
	c.lastSent.Store(1)
	c.frames.inFrames = true
	c.frames.feed(frame(opText, []byte(`{"t":null,"s":null,"op":11,"d":null}`), nil), c.frameSeen)
	c.frames.feed(frame(opText, []byte(`{"op":1,"d":null}`), nil), c.frameSeen)
	c.frames.feed(frame(opClose, closePayload(4014, ""), nil), c.frameSeen)
	c.frames.feed(frame(opClose, nil, nil), c.frameSeen) // a close without a code
	if fmt.Sprint(codes) != "[4014]" || acks != 1 {
		t.Fatalf("codes %v acks %d", codes, acks)
	}
}

func TestAPIRewrite(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Host+" "+r.URL.Path+"?"+r.URL.RawQuery)
	}))
	defer srv.Close()
	cases := []struct {
		name, base, want string
	}{
		{"host only", srv.URL, "/api/v9/gateway?x=1"},
		{"with a path prefix", srv.URL + "/discord/", "/discord/api/v9/gateway?x=1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got = nil
			base, err := parseAPIBase(c.base)
			if err != nil {
				t.Fatal(err)
			}
			client := &http.Client{Transport: apiRewrite{base: base, next: http.DefaultTransport}}
			resp, err := client.Get("https://discord.com/api/v9/gateway?x=1")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			u, _ := url.Parse(srv.URL)
			if len(got) != 1 || got[0] != u.Host+" "+c.want {
				t.Fatalf("server saw %q, want %q", got, u.Host+" "+c.want)
			}
		})
	}
	for _, bad := range []string{"discord.com", "ftp://x", "http://", "http://x/?q=1"} {
		if _, err := parseAPIBase(bad); err == nil {
			t.Errorf("parseAPIBase(%q) accepted", bad)
		}
	}
}
