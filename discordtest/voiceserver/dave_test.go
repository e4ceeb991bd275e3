package voiceserver

import (
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/spellcoven/gateway/voice/dave"
)

// daveHandshake identifies offering DAVE version maxDAVE, selects a protocol and returns the
// session description's dave_protocol_version.
func daveHandshake(t *testing.T, c *rawClient, token string, maxDAVE int) int {
	t.Helper()
	c.send(opIdentify, map[string]any{"server_id": guild, "user_id": bot, "session_id": gwSess, "token": token, "max_dave_protocol_version": maxDAVE})
	if m := c.read(); m.Op != opReady {
		t.Fatalf("got op %d, want ready", m.Op)
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	c.send(opSelectProtocol, map[string]any{"protocol": "udp", "data": map[string]any{"address": "127.0.0.1", "port": udp.LocalAddr().(*net.UDPAddr).Port, "mode": ModeAES256GCM}})
	m := c.read()
	if m.Op != opSessionDescription {
		t.Fatalf("got op %d, want the session description", m.Op)
	}
	var desc struct {
		Version *int `json:"dave_protocol_version"`
	}
	if err := json.Unmarshal(m.D, &desc); err != nil || desc.Version == nil {
		t.Fatalf("session description %s", m.D)
	}
	return *desc.Version
}

// readBinary returns the next binary message, skipping text ones.
func (c *rawClient) readBinary() []byte {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		if typ == websocket.MessageBinary {
			return data
		}
	}
}

// TestDAVENegotiation: a client offering DAVE gets version 1 and then opcode 25 (the external
// sender) as a binary message with the next seq; a client offering none, or any client of a
// server with DisableDAVE, gets version 0 and no DAVE group.
func TestDAVENegotiation(t *testing.T) {
	s := startServer(t, nil)
	c := dialRaw(t, s)
	if v := daveHandshake(t, c, grant(s), 1); v != dave.ProtocolVersion {
		t.Fatalf("dave_protocol_version %d, want %d", v, dave.ProtocolVersion)
	}
	seq, op, payload, err := dave.ParseServerFrame(c.readBinary())
	if err != nil || op != dave.OpExternalSender || len(payload) == 0 {
		t.Fatalf("binary message: op %d, %d bytes, %v", op, len(payload), err)
	}
	info, _ := s.Session(guild, bot)
	if int64(seq) != info.Seq || !info.DAVEMember || info.DAVEProtocolVersion != 1 {
		t.Fatalf("binary seq %d, session %+v", seq, info)
	}
	// A malformed key package is refused and counted; the connection stays.
	if err := c.ws.Write(context.Background(), websocket.MessageBinary, []byte{byte(dave.OpKeyPackage), 0xde, 0xad}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Counters().DAVEErrors != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("counters %+v", s.Counters())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if info, _ := s.Session(guild, bot); !info.Connected {
		t.Fatal("a malformed key package ended the connection")
	}

	for _, tc := range []struct {
		name    string
		config  func(*Config)
		maxDAVE int
	}{
		{"client without DAVE", nil, 0},
		{"server without DAVE", func(c *Config) { c.DisableDAVE = true }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.config)
			c := dialRaw(t, s)
			if v := daveHandshake(t, c, grant(s), tc.maxDAVE); v != 0 {
				t.Fatalf("dave_protocol_version %d, want 0", v)
			}
			if info, _ := s.Session(guild, bot); info.DAVEMember {
				t.Fatalf("session %+v", info)
			}
			if _, ok := s.DAVEGroup(guild, channel); ok {
				t.Fatal("a DAVE group exists")
			}
		})
	}
}

func TestDAVEConfig(t *testing.T) {
	for _, cfg := range []Config{{DAVETransitionTimeout: -1}, {DAVEReadyTimeout: -1}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted a negative DAVE timeout", cfg)
		}
	}
}
