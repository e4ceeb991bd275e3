package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/spellcoven/gateway/internal/wsframe"
)

// serverFrame is a frame as a server sends it: unmasked, with the shortest length encoding.
func serverFrame(fin bool, op byte, payload string) []byte {
	f := make([]byte, wsframe.HeaderLen(len(payload)))
	wsframe.PutHeader(f, op, len(payload))
	if !fin {
		f[0] &^= 0x80
	}
	return append(f, payload...)
}

func closeFrame(code uint16, reason string) []byte {
	return serverFrame(true, wsframe.OpClose, string(binary.BigEndian.AppendUint16(nil, code))+reason)
}

// recorder is a wsHandler that keeps what it is handed.
type recorder struct {
	messages, pings []string
}

func (r *recorder) message(msg []byte, _ time.Duration) { r.messages = append(r.messages, string(msg)) }

func (r *recorder) answerPing(payload []byte) error {
	r.pings = append(r.pings, string(payload))
	return nil
}

// feed passes stream to s in reads of the given sizes (the rest in one read), each as large as the
// buffer readBuf offers allows, and returns the first error.
func feed(s *wsStream, h wsHandler, scratch, stream []byte, reads ...int) error {
	for len(stream) > 0 {
		size := len(stream)
		if len(reads) > 0 {
			size, reads = min(reads[0], size), reads[1:]
		}
		for chunk := stream[:size]; len(chunk) > 0; {
			buf := s.readBuf(scratch)
			n := copy(buf, chunk)
			chunk = chunk[n:]
			if err := s.consume(buf, n, 0, h); err != nil {
				return err
			}
		}
		stream = stream[size:]
	}
	return nil
}

// testStream is a server's stream with every kind of frame the client reads: messages with 7- and
// 16-bit lengths, one in fragments with a ping and a pong between them, and the close.
func testStream() (stream []byte, messages, pings []string) {
	long := strings.Repeat("y", 300)
	for _, f := range [][]byte{
		serverFrame(true, wsframe.OpText, "hello"),
		serverFrame(true, wsframe.OpPing, "p1"),
		serverFrame(true, wsframe.OpText, long),
		serverFrame(false, wsframe.OpText, "frag1,"),
		serverFrame(true, wsframe.OpPing, "p2"),
		serverFrame(false, wsframe.OpContinuation, "frag2,"),
		serverFrame(true, wsframe.OpPong, "unasked"),
		serverFrame(true, wsframe.OpContinuation, "frag3"),
		serverFrame(true, wsframe.OpBinary, "bin"),
		closeFrame(4000, "test over"),
	} {
		stream = append(stream, f...)
	}
	return stream, []string{"hello", long, "frag1,frag2,frag3", "bin"}, []string{"p1", "p2"}
}

// checkStream fails the test unless the stream read into r ended with err at its close frame, with
// the messages and pings given.
func checkStream(t *testing.T, how string, r *recorder, err error, messages, pings []string) {
	t.Helper()
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "test over" {
		t.Fatalf("%s: ended with %v, want the close frame's 4000 test over", how, err)
	}
	if fmt.Sprint(r.messages) != fmt.Sprint(messages) || fmt.Sprint(r.pings) != fmt.Sprint(pings) {
		t.Fatalf("%s: messages %.80q and pings %q, want %.80q and %q", how, r.messages, r.pings, messages, pings)
	}
}

func TestAStreamIsReadWhereverReadsCutIt(t *testing.T) {
	stream, messages, pings := testStream()
	scratch := make([]byte, pollerReadSize)
	read := func(how string, reads ...int) {
		var r recorder
		err := feed(new(wsStream), &r, scratch, stream, reads...)
		checkStream(t, how, &r, err, messages, pings)
	}
	read("in one read")
	read("a byte a read", slices.Repeat([]int{1}, len(stream))...)
	for cut := 1; cut < len(stream); cut++ {
		read(fmt.Sprintf("cut after byte %d", cut), cut)
	}
}

func TestLongMessagesTakeSixteenAndSixtyFourBitLengths(t *testing.T) {
	scratch := make([]byte, pollerReadSize)
	for _, size := range []int{125, 126, 1<<16 - 1, 1 << 16, 200 << 10, clientReadLimit} {
		msg := strings.Repeat("z", size)
		stream := append(serverFrame(true, wsframe.OpText, msg), serverFrame(true, wsframe.OpText, "after")...)
		for _, reads := range [][]int{nil, {3}, {1000, 1000, 70000}} {
			var r recorder
			if err := feed(new(wsStream), &r, scratch, stream, reads...); err != nil {
				t.Fatalf("%d bytes in reads of %v: %v", size, reads, err)
			}
			if len(r.messages) != 2 || r.messages[0] != msg || r.messages[1] != "after" {
				t.Fatalf("%d bytes in reads of %v: %d messages", size, reads, len(r.messages))
			}
		}
	}
}

func TestFramesAClientMustNotAcceptEndTheStream(t *testing.T) {
	over := strings.Repeat("o", clientReadLimit/2+1)
	masked := serverFrame(true, wsframe.OpText, "abcd")
	masked[1] |= 0x80
	tests := []struct {
		name   string
		stream []byte
		want   string
	}{
		{"reserved bit", append([]byte{0x80 | 0x40 | wsframe.OpText, 1}, 'x'), "reserved bits 0x40"},
		{"masked", masked, "masked frame"},
		{"unknown data opcode", serverFrame(true, 0x3, "x"), "unknown opcode 0x3"},
		{"unknown control opcode", serverFrame(true, 0xb, "x"), "unknown opcode 0xb"},
		{"fragmented ping", serverFrame(false, wsframe.OpPing, "x"), "control frame 0x9 fragmented"},
		{"long ping", serverFrame(true, wsframe.OpPing, strings.Repeat("x", 126)), "of 126 bytes"},
		{"message over the limit", binary.BigEndian.AppendUint64([]byte{0x80 | wsframe.OpText, 127}, clientReadLimit+1), "frame of 1048577 bytes, over the limit"},
		{"fragments over the limit", append(serverFrame(false, wsframe.OpText, over), serverFrame(true, wsframe.OpContinuation, over)...), "message of more than 1048576 bytes"},
		{"continuation alone", serverFrame(true, wsframe.OpContinuation, "x"), "continuation frame outside"},
		{"message inside a fragmented one", append(serverFrame(false, wsframe.OpText, "a"), serverFrame(true, wsframe.OpText, "b")...), "a new message inside"},
		{"close with one byte", serverFrame(true, wsframe.OpClose, "x"), "1-byte payload"},
	}
	scratch := make([]byte, pollerReadSize)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			err := feed(new(wsStream), &r, scratch, tt.stream)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if len(r.messages) > 0 {
				t.Errorf("messages %.40q handed on", r.messages)
			}
		})
	}
}

func TestACloseFrameWithoutACodeSaysSo(t *testing.T) {
	var r recorder
	err := feed(new(wsStream), &r, make([]byte, 64), serverFrame(true, wsframe.OpClose, ""))
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusNoStatusRcvd {
		t.Fatalf("error %v, want a close error with 1005", err)
	}
}

func TestClientFramesAreMasked(t *testing.T) {
	for _, size := range []int{0, 15, 125, 126, 300, 1 << 16} {
		payload := []byte(strings.Repeat("m", size))
		f := appendFrame(nil, wsframe.OpText, payload)
		h, ok := wsframe.ParseHeader(f)
		if !ok || !h.Fin || h.Op != wsframe.OpText || !h.Masked || h.Len+size != len(f) {
			t.Fatalf("%d bytes: header %+v, %v of frame %x", size, h, ok, f[:min(len(f), 14)])
		}
		key, got := f[h.Len-4:h.Len], f[h.Len:]
		for i := range got {
			got[i] ^= key[i%4]
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("%d bytes: unmasked payload %.20q", size, got)
		}
	}
}

func TestReadingMessagesAllocatesNothing(t *testing.T) {
	// A hello, then events in messages of three, in reads that cut frames (and their headers).
	const last = 3000
	var stream []byte
	stream = append(stream, serverFrame(true, wsframe.OpText, `{"type":"hello","epoch":"e","seq":0}`)...)
	for seq := 1; seq < last; seq += 3 {
		var msg []string
		for s := seq; s < seq+3; s++ {
			msg = append(msg, fmt.Sprintf(`{"v":1,"epoch":"e","seq":%d,"data":"%s"}`, s, strings.Repeat("d", 200)))
		}
		stream = append(stream, serverFrame(true, wsframe.OpText, strings.Join(msg, "\n"))...)
	}
	c := newClient(newClock(), nil)
	conn := &epollConn{client: c}
	scratch := make([]byte, pollerReadSize)
	reads := slices.Repeat([]int{1000, 7, 4093}, len(stream)/5100+1)
	allocs := testing.AllocsPerRun(10, func() {
		c.check, conn.stream.fragmented = seqCheck{}, false
		if err := feed(&conn.stream, conn, scratch, stream, reads...); err != nil {
			t.Fatal(err)
		}
	})
	if err := c.check.verify(0, last); err != nil || c.failure != nil {
		t.Fatalf("%v; failure %v", err, c.failure)
	}
	if allocs != 0 {
		t.Errorf("%v allocations a stream of %d messages", allocs, last/3)
	}
}
