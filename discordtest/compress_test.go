package discordtest

import (
	"bytes"
	"compress/zlib"
	"testing"
	"time"
)

func TestPerMessageZlibFromIdentify(t *testing.T) {
	s := startEmulator(t, nil)
	g := dialGateway(t, s, v10)
	if hello := g.next(5 * time.Second); hello.binary {
		t.Fatal("hello compressed before identify asked for it")
	}
	p := identifyPayload(testToken, IntentGuilds)
	p["compress"] = true
	g.send(opIdentify, p)
	// The reader decodes each binary frame with its own zlib reader: each must be a whole stream.
	for _, name := range []string{"READY", "GUILD_CREATE"} {
		if m := g.expectDispatch(name); !m.binary || m.frame[0] != 0x78 {
			t.Fatalf("%s: binary %v, frame starts % x", name, m.binary, m.frame[:2])
		}
	}
	g.send(opHeartbeat, 2)
	if ack := g.next(5 * time.Second); ack.Op != opHeartbeatACK || ack.binary {
		t.Fatalf("ACK op %d binary %v, want a text ACK", ack.Op, ack.binary)
	}
	if info := onlySession(t, s); info.Compression != "zlib" {
		t.Fatalf("session compression %q", info.Compression)
	}

	// A resumed connection keeps the session's compression.
	id := onlySession(t, s).ID
	g.closeWith(4000)
	if _, err := s.CreateChannel(firstGuild(t, s).ID, Channel{Name: "while-away"}); err != nil {
		t.Fatal(err)
	}
	r := resumeOn(t, s, testToken, id, 2)
	if m := r.expectDispatch("CHANNEL_CREATE"); !m.binary {
		t.Fatal("replayed dispatch not compressed")
	}
	if m := r.expectDispatch("RESUMED"); !m.binary {
		t.Fatal("RESUMED not compressed")
	}
}

func TestZlibStreamTransportCompression(t *testing.T) {
	s := startEmulator(t, nil)
	g := dialGateway(t, s, v10+"&compress=zlib-stream")
	// The reader feeds every message to one inflate context and checks each ends with 00 00 FF FF.
	hello := g.next(5 * time.Second)
	if hello.Op != opHello || !hello.binary {
		t.Fatalf("hello op %d binary %v", hello.Op, hello.binary)
	}
	p := identifyPayload(testToken, IntentGuilds|IntentGuildVoiceStates)
	// Identify compression is ignored under transport compression.
	p["compress"] = true
	g.send(opIdentify, p)
	g.expectDispatch("READY")
	g.expectDispatch("GUILD_CREATE")
	if _, err := s.CreateChannel(firstGuild(t, s).ID, Channel{Name: "streamed"}); err != nil {
		t.Fatal(err)
	}
	if m := g.expectDispatch("CHANNEL_CREATE"); decodeJSON[map[string]any](t, m.D)["name"] != "streamed" {
		t.Fatalf("CHANNEL_CREATE %s", m.D)
	}
	if info := onlySession(t, s); info.Compression != "zlib-stream" {
		t.Fatalf("session compression %q", info.Compression)
	}
}

func TestZlibStreamMessagesShareOneContext(t *testing.T) {
	enc := newFrameEncoder(true)
	payloads := [][]byte{
		[]byte(`{"t":null,"s":null,"op":10,"d":{"heartbeat_interval":41250}}`),
		[]byte(`{"t":"READY","s":1,"op":0,"d":{"v":10}}`),
		[]byte(`{"t":"READY","s":1,"op":0,"d":{"v":10}}`),
	}
	var frames [][]byte
	for _, p := range payloads {
		_, frame, err := enc.encode(p, false)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(frame, []byte{0, 0, 0xff, 0xff}) {
			t.Fatalf("frame % x lacks the sync flush marker", frame)
		}
		frames = append(frames, bytes.Clone(frame))
	}
	// Only the first frame carries the zlib header; later ones continue the same stream (the
	// repeated payload compresses to a back-reference), so they cannot be read on their own.
	if _, err := zlib.NewReader(bytes.NewReader(frames[2])); err == nil {
		t.Fatal("third frame decodes as a stream of its own")
	}
	if len(frames[2]) >= len(payloads[2]) {
		t.Fatalf("repeated payload not compressed against the shared context: %d bytes", len(frames[2]))
	}
}
