package voiceserver

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/voice"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	guild   = "1"
	channel = "2"
	bot     = "3"
	gwSess  = "main-session"
)

func startServer(t *testing.T, mutate func(*Config)) *Server {
	t.Helper()
	cfg := Config{HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: time.Minute}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// rawClient speaks the voice gateway by hand, independently of package voice.
type rawClient struct {
	t  *testing.T
	ws *websocket.Conn
}

type message struct {
	Op  int             `json:"op"`
	D   json.RawMessage `json:"d"`
	Seq *int64          `json:"seq"`
}

func dialRaw(t *testing.T, s *Server) *rawClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+s.Endpoint()+"/?v=8", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	c := &rawClient{t: t, ws: ws}
	hello := c.read()
	var h struct {
		HeartbeatInterval float64 `json:"heartbeat_interval"`
	}
	if hello.Op != opHello || json.Unmarshal(hello.D, &h) != nil || h.HeartbeatInterval != 100 || hello.Seq != nil {
		t.Fatalf("first message %+v, want hello with heartbeat_interval 100 and no seq", hello)
	}
	return c
}

func (c *rawClient) send(op int, d any) {
	c.t.Helper()
	b, _ := json.Marshal(map[string]any{"op": op, "d": d})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next message, or fails the test (with the close code if the server closed).
func (c *rawClient) read() message {
	c.t.Helper()
	m, err := c.tryRead()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *rawClient) tryRead() (message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, data, err := c.ws.Read(ctx)
	if err != nil {
		return message{}, err
	}
	var m message
	if err := json.Unmarshal(data, &m); err != nil {
		c.t.Fatalf("bad message %s", data)
	}
	return m, nil
}

// expectClose reads until the server closes and checks the code.
func (c *rawClient) expectClose(code int) {
	c.t.Helper()
	for {
		_, err := c.tryRead()
		if err != nil {
			if got := int(websocket.CloseStatus(err)); got != code {
				c.t.Fatalf("closed with %d (%v), want %d", got, err, code)
			}
			return
		}
	}
}

func (c *rawClient) identify(token string) map[string]any {
	c.t.Helper()
	c.send(opIdentify, map[string]any{"server_id": guild, "user_id": bot, "session_id": gwSess, "token": token, "max_dave_protocol_version": 0})
	m := c.read()
	if m.Op != opReady {
		c.t.Fatalf("got op %d, want ready", m.Op)
	}
	var ready map[string]any
	_ = json.Unmarshal(m.D, &ready)
	return ready
}

func grant(s *Server) string {
	_, token := s.Allocate(discordtest.VoiceGrant{GuildID: guild, ChannelID: channel, UserID: bot, SessionID: gwSess})
	return token
}

func TestVersionIsRequired(t *testing.T) {
	s := startServer(t, nil)
	for _, q := range []string{"", "?v=3", "?v=9", "?v=x"} {
		resp, err := http.Get("http://" + s.Endpoint() + "/" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: status %d, want 400", q, resp.StatusCode)
		}
	}
}

// TestHandshakeRefusals lists what closes the voice gateway, with Discord's codes.
func TestHandshakeRefusals(t *testing.T) {
	cases := []struct {
		name   string
		config func(*Config)
		script func(c *rawClient, token string)
		code   int
	}{
		{"wrong token", nil, func(c *rawClient, _ string) {
			c.send(opIdentify, map[string]any{"server_id": guild, "user_id": bot, "session_id": gwSess, "token": "nope"})
		}, closeAuthenticationFailed},
		{"wrong session", nil, func(c *rawClient, token string) {
			c.send(opIdentify, map[string]any{"server_id": guild, "user_id": bot, "session_id": "other", "token": token})
		}, closeAuthenticationFailed},
		{"no grant for the user", nil, func(c *rawClient, token string) {
			c.send(opIdentify, map[string]any{"server_id": guild, "user_id": "99", "session_id": gwSess, "token": token})
		}, closeAuthenticationFailed},
		{"select protocol before identify", nil, func(c *rawClient, _ string) {
			c.send(opSelectProtocol, map[string]any{"protocol": "udp"})
		}, closeNotAuthenticated},
		{"undecodable message", nil, func(c *rawClient, _ string) {
			_ = c.ws.Write(context.Background(), websocket.MessageText, []byte("{not json"))
		}, closeDecodeError},
		{"oversize message", func(c *Config) { c.MaxMessageBytes = 100 }, func(c *rawClient, _ string) {
			c.send(opHeartbeat, strings.Repeat("x", 200))
		}, closeDecodeError},
		{"identify twice", nil, func(c *rawClient, token string) {
			c.identify(token)
			c.send(opIdentify, map[string]any{"server_id": guild, "user_id": bot, "session_id": gwSess, "token": token})
		}, closeAlreadyAuthenticated},
		{"unknown opcode", nil, func(c *rawClient, token string) {
			c.identify(token)
			c.send(99, nil)
		}, closeUnknownOpcode},
		{"unknown protocol", nil, func(c *rawClient, token string) {
			c.identify(token)
			c.send(opSelectProtocol, map[string]any{"protocol": "webrtc", "data": map[string]any{"address": "127.0.0.1", "port": 1, "mode": ModeAES256GCM}})
		}, closeUnknownProtocol},
		{"mode not offered", func(c *Config) { c.Modes = []string{ModeXChaCha20Poly1305} }, func(c *rawClient, token string) {
			c.identify(token)
			c.send(opSelectProtocol, map[string]any{"protocol": "udp", "data": map[string]any{"address": "127.0.0.1", "port": 1, "mode": ModeAES256GCM}})
		}, closeUnknownEncryptionMode},
		{"unknown mode", nil, func(c *rawClient, token string) {
			c.identify(token)
			c.send(opSelectProtocol, map[string]any{"protocol": "udp", "data": map[string]any{"address": "127.0.0.1", "port": 1, "mode": "plaintext"}})
		}, closeUnknownEncryptionMode},
		{"DAVE required", func(c *Config) { c.RequireDAVE = true }, func(c *rawClient, token string) {
			c.send(opIdentify, map[string]any{"server_id": guild, "user_id": bot, "session_id": gwSess, "token": token, "max_dave_protocol_version": 0})
		}, closeDAVERequired},
		{"DAVE binary message without DAVE", nil, func(c *rawClient, token string) {
			c.identify(token)
			_ = c.ws.Write(context.Background(), websocket.MessageBinary, []byte{26, 1, 2, 3})
		}, closeDecodeError},
		{"DAVE transition ready without DAVE", nil, func(c *rawClient, token string) {
			c.identify(token)
			c.send(23, map[string]any{"transition_id": 1})
		}, closeUnknownOpcode},
		{"no identify in time", func(c *Config) { c.HandshakeTimeout = 50 * time.Millisecond }, func(*rawClient, string) {}, closeSessionTimeout},
		{"no heartbeat in time", func(c *Config) { c.HeartbeatTimeout = 150 * time.Millisecond }, func(c *rawClient, token string) {
			c.identify(token)
		}, closeSessionTimeout},
		{"resume of an unknown session", nil, func(c *rawClient, token string) {
			c.send(opResume, map[string]any{"server_id": guild, "session_id": "unknown", "token": token, "seq_ack": 0})
		}, closeSessionInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.config)
			token := grant(s)
			c := dialRaw(t, s)
			tc.script(c, token)
			c.expectClose(tc.code)
		})
	}
}

// TestSessionSetup walks a whole handshake by hand: ready, IP discovery, keepalive echo,
// select protocol, session description, then an encrypted packet the server records.
func TestSessionSetup(t *testing.T) {
	s := startServer(t, nil)
	c := dialRaw(t, s)
	ready := c.identify(grant(s))
	ssrc := uint32(ready["ssrc"].(float64))
	if ready["ip"] != "127.0.0.1" || int(ready["port"].(float64)) != s.UDPAddr().Port {
		t.Fatalf("ready %v", ready)
	}
	if modes := ready["modes"].([]any); len(modes) != 2 || modes[0] != ModeAES256GCM {
		t.Fatalf("modes %v", modes)
	}

	udp, err := net.DialUDP("udp", nil, s.UDPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	_ = udp.SetReadDeadline(time.Now().Add(5 * time.Second))
	req := make([]byte, 74)
	binary.BigEndian.PutUint16(req, 1)
	binary.BigEndian.PutUint16(req[2:], 70)
	binary.BigEndian.PutUint32(req[4:], ssrc)
	if _, err := udp.Write(req); err != nil {
		t.Fatal(err)
	}
	resp := make([]byte, 100)
	n, err := udp.Read(resp)
	if err != nil || n != 74 || binary.BigEndian.Uint16(resp) != 2 || binary.BigEndian.Uint32(resp[4:]) != ssrc {
		t.Fatalf("discovery answer %x, %v", resp[:n], err)
	}
	local := udp.LocalAddr().(*net.UDPAddr)
	if addr := strings.TrimRight(string(resp[8:72]), "\x00"); addr != "127.0.0.1" || int(binary.BigEndian.Uint16(resp[72:])) != local.Port {
		t.Fatalf("discovered %s:%d, want %v", addr, binary.BigEndian.Uint16(resp[72:]), local)
	}
	if _, err := udp.Write([]byte{7, 0, 0, 0, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	if n, err := udp.Read(resp); err != nil || n != 8 || resp[0] != 7 {
		t.Fatalf("keepalive echo %x, %v", resp[:n], err)
	}

	c.send(opSelectProtocol, map[string]any{"protocol": "udp", "data": map[string]any{"address": "127.0.0.1", "port": local.Port, "mode": ModeXChaCha20Poly1305}})
	desc := c.read()
	var d struct {
		Mode      string `json:"mode"`
		SecretKey []byte `json:"-"`
		Key       []int  `json:"secret_key"`
	}
	if desc.Op != opSessionDescription || json.Unmarshal(desc.D, &d) != nil || d.Mode != ModeXChaCha20Poly1305 || len(d.Key) != 32 || desc.Seq == nil {
		t.Fatalf("session description %+v", desc)
	}
	key := make([]byte, 32)
	for i, v := range d.Key {
		key[i] = byte(v)
	}
	sealer, _ := voice.NewSealer(voice.ModeXChaCha20Poly1305, key)
	packet, _ := sealer.Seal(nil, []byte{0x80, 120, 0, 5, 0, 0, 0, 0, byte(ssrc >> 24), byte(ssrc >> 16), byte(ssrc >> 8), byte(ssrc)}, []byte("opus"))
	if _, err := udp.Write(packet); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Received(ssrc)) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	got := s.Received(ssrc)
	if len(got) != 1 || string(got[0].Payload) != "opus" || got[0].Sequence != 5 || got[0].Mode != ModeXChaCha20Poly1305 {
		t.Fatalf("recorded %+v", got)
	}
	info, _ := s.Session(guild, bot)
	if info.BotAddress != local.String() || info.Mode != ModeXChaCha20Poly1305 {
		t.Fatalf("session %+v", info)
	}
	for _, op := range s.Ops(guild, bot) {
		if strings.Contains(string(op.D), info.SessionID) && strings.Contains(string(op.D), "token") && !strings.Contains(string(op.D), "[redacted]") {
			t.Fatalf("an observed op keeps the token: %s", op.D)
		}
	}
}

// TestHeartbeatAndResume checks heartbeats (ACK with the same nonce, seq_ack recorded) and a
// resume that replays what the client had not acknowledged, then RESUMED.
func TestHeartbeatAndResume(t *testing.T) {
	s := startServer(t, nil)
	token := grant(s)
	c := dialRaw(t, s)
	c.identify(token)
	u, err := s.JoinUser(guild, channel, "42")
	if err != nil {
		t.Fatal(err)
	}
	_ = u.SetSpeaking(1)
	connect, speaking := c.read(), c.read()
	if connect.Op != opClientsConnect || speaking.Op != opSpeaking || *speaking.Seq != *connect.Seq+1 {
		t.Fatalf("events %+v %+v", connect, speaking)
	}
	c.send(opHeartbeat, map[string]any{"t": 12345, "seq_ack": *connect.Seq})
	ack := c.read()
	if ack.Op != opHeartbeatAck || string(ack.D) != `{"t":12345}` || ack.Seq != nil {
		t.Fatalf("ack %+v %s", ack, ack.D)
	}
	if info, _ := s.Session(guild, bot); info.LastSeqAck != *connect.Seq || info.Heartbeats != 1 {
		t.Fatalf("session %+v", info)
	}
	if err := s.DropConnection(guild, bot); err != nil {
		t.Fatal(err)
	}
	// Resume acknowledging only the connect: the speaking event is replayed.
	c2 := dialRaw(t, s)
	c2.send(opResume, map[string]any{"server_id": guild, "session_id": gwSess, "token": token, "seq_ack": *connect.Seq})
	replayed, resumed := c2.read(), c2.read()
	if replayed.Op != opSpeaking || *replayed.Seq != *speaking.Seq || resumed.Op != opResumed {
		t.Fatalf("after resume: %+v then %+v", replayed, resumed)
	}
	// A wrong token cannot resume.
	_ = s.DropConnection(guild, bot)
	c3 := dialRaw(t, s)
	c3.send(opResume, map[string]any{"server_id": guild, "session_id": gwSess, "token": "nope", "seq_ack": 0})
	c3.expectClose(closeAuthenticationFailed)
}

// TestResumeTooOldIsRefused: a seq_ack older than the replay buffer cannot be honoured.
func TestResumeTooOldIsRefused(t *testing.T) {
	s := startServer(t, func(c *Config) { c.ReplayBufferSize = 2 })
	token := grant(s)
	c := dialRaw(t, s)
	c.identify(token)
	_ = s.PauseDelivery(guild, bot)
	for _, id := range []string{"41", "42", "43"} {
		if _, err := s.JoinUser(guild, channel, id); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.DropConnection(guild, bot)
	c2 := dialRaw(t, s)
	c2.send(opResume, map[string]any{"server_id": guild, "session_id": gwSess, "token": token, "seq_ack": 0})
	c2.expectClose(closeSessionInvalid)
}

// TestReleaseDisconnects: the bot leaving voice on the main gateway ends its voice session
// with 4014.
func TestReleaseDisconnects(t *testing.T) {
	s := startServer(t, nil)
	c := dialRaw(t, s)
	c.identify(grant(s))
	s.Release(guild, bot)
	c.expectClose(closeDisconnected)
	if _, ok := s.Session(guild, bot); ok {
		t.Fatal("session survived Release")
	}
}

func TestConfigLimits(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{}, true},
		{"unknown mode", Config{Modes: []string{"rot13"}}, false},
		{"host not an IP", Config{Host: "localhost"}, false},
		{"negative heartbeat", Config{HeartbeatInterval: -1}, false},
		{"negative heartbeat timeout", Config{HeartbeatTimeout: -1}, false},
		{"negative replay buffer", Config{ReplayBufferSize: -1}, false},
		{"negative message size", Config{MaxMessageBytes: -1}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.cfg)
			if (err == nil) != c.ok {
				t.Fatalf("New = %v, want ok=%v", err, c.ok)
			}
		})
	}
}

// TestFaultsNeedASession: fault injection on a session that does not exist is an error.
func TestFaultsNeedASession(t *testing.T) {
	s := startServer(t, nil)
	for name, err := range map[string]error{
		"close":      s.CloseSession(guild, bot, 4015, ""),
		"drop":       s.DropConnection(guild, bot),
		"invalidate": s.InvalidateSession(guild, bot),
		"pause":      s.PauseDelivery(guild, bot),
		"raw":        s.SendRaw(guild, bot, []byte{1}),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := s.CloseSession(guild, bot, 99, ""); err == nil || errors.Is(err, nil) {
		t.Error("close code 99 accepted")
	}
}
