package discordtest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/internal/syncbuf"
)

// jsEvent is one line the node client reports.
type jsEvent struct {
	Event     string  `json:"event"`
	T         string  `json:"t"`
	S         int64   `json:"s"`
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	SessionID string  `json:"session_id"`
	ResumeURL string  `json:"resume_gateway_url"`
	V         int     `json:"v"`
	Code      int     `json:"code"`
	Count     int     `json:"count"`
	Message   string  `json:"message"`
	Status    int     `json:"status"`
	Latency   float64 `json:"latency"`

	// What discordtest/djsclient reports.
	Cmd           string     `json:"cmd"`
	OK            bool       `json:"ok"`
	ErrorCode     string     `json:"error_code"`
	Tag           string     `json:"tag"`
	Discriminator string     `json:"discriminator"`
	Guilds        []djsGuild `json:"guilds"`
	UserID        string     `json:"user_id"`
	To            *string    `json:"to"`
	Replayed      int        `json:"replayed"`
}

// jsClient runs discordtest/jsclient/client.mjs against an emulator.
type jsClient struct {
	t      *testing.T
	stdin  io.WriteCloser
	events chan jsEvent
	stderr *syncbuf.Buffer
	done   chan error
}

func startJSClient(t *testing.T, s *Server, compression string) *jsClient {
	t.Helper()
	return startNodeClient(t, s, "jsclient", "client.mjs", "@discordjs/ws", "COMPRESSION="+compression)
}

// startNodeClient runs a node script of dir (whose node_modules must hold module) against the
// emulator, with env added to the script's environment.
func startNodeClient(t *testing.T, s *Server, dir, script, module string, env ...string) *jsClient {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", module)); err != nil {
		t.Fatalf("the node test client is not installed; run: (cd discordtest/%s && npm ci)", dir)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed; the fidelity test needs Node.js 20 or later")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(),
		"EMULATOR_API="+s.URL()+"/api",
		"DISCORD_TOKEN="+testToken,
		"TIMEOUT_MS=45000",
	), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &jsClient{t: t, stdin: stdin, events: make(chan jsEvent, 256), stderr: &syncbuf.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	quit := make(chan struct{})
	go func() {
		scan := bufio.NewScanner(stdout)
		for scan.Scan() {
			var e jsEvent
			if err := json.Unmarshal(scan.Bytes(), &e); err != nil {
				e = jsEvent{Event: "unparsed", Message: scan.Text()}
			}
			select {
			case c.events <- e:
			case <-quit:
				// The test is over: read on so the client never blocks writing.
			}
		}
		close(c.events)
		// Wait only after stdout is drained, as os/exec requires.
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		close(quit)
		select {
		case <-c.done:
		case <-time.After(20 * time.Second):
			cancel()
			<-c.done
		}
	})
	return c
}

// expect waits for an event the predicate accepts, failing on reported errors and on timeout.
func (c *jsClient) expect(what string, match func(jsEvent) bool) jsEvent {
	c.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case e, ok := <-c.events:
			if !ok {
				c.t.Fatalf("node client exited while waiting for %s; stderr:\n%s", what, c.stderr)
			}
			if e.Event == "error" || e.Event == "unparsed" {
				c.t.Fatalf("node client: %s %s; stderr:\n%s", e.Event, e.Message, c.stderr)
			}
			if testing.Verbose() {
				c.t.Logf("node client: %+v", e)
			}
			if match(e) {
				return e
			}
		case <-deadline:
			c.t.Fatalf("node client: no %s within 15s; stderr:\n%s", what, c.stderr)
		}
	}
}

func (c *jsClient) send(cmd map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(cmd)
	if _, err := c.stdin.Write(append(b, '\n')); err != nil {
		c.t.Fatalf("write to node client: %v", err)
	}
}

func isEvent(name string) func(jsEvent) bool {
	return func(e jsEvent) bool { return e.Event == name }
}

func isDispatch(t, id string) func(jsEvent) bool {
	return func(e jsEvent) bool { return e.Event == "dispatch" && e.T == t && (id == "" || e.ID == id) }
}

// TestDiscordJSClientFidelity runs discord.js's gateway and REST clients against the emulator:
// discovery through GET /gateway/bot, identify, heartbeats with jitter and d:null, dispatches,
// REST with rate-limit buckets, and a forced resume.
func TestDiscordJSClientFidelity(t *testing.T) {
	tests := []struct {
		name        string
		compression string
		fault       func(s *Server, sessionID string) error
		// closeCode is what the client sends when it leaves the broken connection; 0 for none.
		closeCode int
	}{
		{"op 7 reconnect", "", func(s *Server, id string) error { return s.SendReconnect(id) }, 4200},
		{"dropped TCP connection with zlib-stream", "zlib-stream", func(s *Server, id string) error { return s.DropConnection(id) }, 0},
		{"zombie connection", "", func(s *Server, id string) error { return s.SetHeartbeatACKs(id, false) }, 4200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startEmulator(t, func(c *Config) {
				c.REST.RateLimitsDisabled = false
				c.REST.RouteLimit = RouteLimit{Requests: 2, Window: 500 * time.Millisecond}
			})
			guild := firstGuild(t, s)
			js := startJSClient(t, s, tt.compression)

			ready := js.expect("READY", isEvent("ready"))
			info := onlySession(t, s)
			if ready.SessionID != info.ID || ready.ResumeURL != s.GatewayURL() || ready.V != 10 {
				t.Fatalf("READY as the client saw it: %+v; emulator session %+v", ready, info)
			}
			if info.Version != 10 || info.Shard != [2]int{0, 1} {
				t.Fatalf("session %+v: want v10 and shard [0, 1] as discord.js identifies", info)
			}
			if want := map[string]string{"": "", "zlib-stream": "zlib-stream"}[tt.compression]; info.Compression != want {
				t.Fatalf("compression %q, want %q", info.Compression, want)
			}
			js.expect("GUILD_CREATE", isDispatch("GUILD_CREATE", guild.ID))
			js.expect("a heartbeat ACK", isEvent("heartbeat"))

			// REST through @discordjs/rest, with its bucket handling, and the dispatch it fires.
			for _, name := range []string{"table-1", "table-2", "table-3"} {
				js.send(map[string]any{"cmd": "create_channel", "guild_id": guild.ID, "name": name, "parent_id": guild.RoomsCategoryID})
				// The emulator dispatches before it answers, as Discord may: the event and the
				// answer arrive in either order.
				var created jsEvent
				dispatched := map[string]bool{}
				js.expect("the REST answer and its CHANNEL_CREATE", func(e jsEvent) bool {
					switch {
					case e.Event == "rest_created" || e.Event == "rest_error":
						created = e
					case isDispatch("CHANNEL_CREATE", "")(e):
						dispatched[e.ID] = true
					}
					return created.Event == "rest_error" || (created.Event != "" && dispatched[created.ID])
				})
				if created.Event != "rest_created" || created.Name != name {
					t.Fatalf("create %s over REST: %+v", name, created)
				}
			}
			if st := s.Stats(); st.RESTStatus[429] != 0 {
				t.Fatalf("@discordjs/rest hit %d 429s; it should follow the bucket headers", st.RESTStatus[429])
			}

			// Break the connection, change the world while the client is away, and watch it resume.
			if err := tt.fault(s, info.ID); err != nil {
				t.Fatal(err)
			}
			missed, err := s.CreateChannel(guild.ID, Channel{Type: ChannelTypeGuildVoice, Name: "while-away"})
			if err != nil {
				t.Fatal(err)
			}
			// The dispatch may reach the client on the old connection, before it acts on the fault,
			// or be replayed after the resume: either way it arrives once, with the resume.
			var resumed, gotMissed int
			js.expect("RESUMED and the missed CHANNEL_CREATE", func(e jsEvent) bool {
				switch {
				case e.Event == "resumed":
					resumed++
				case isDispatch("CHANNEL_CREATE", missed.ID)(e):
					gotMissed++
				}
				return resumed > 0 && gotMissed > 0
			})
			if st := s.Stats(); st.Identifies != 1 || st.Resumes != 1 {
				t.Fatalf("identifies %d, resumes %d: want one session, resumed once", st.Identifies, st.Resumes)
			}
			if tt.closeCode != 0 {
				if got := s.Stats().ClientCloseCodes[tt.closeCode]; got != 1 {
					t.Fatalf("client close codes %v, want one %d", s.Stats().ClientCloseCodes, tt.closeCode)
				}
			}
			alice, _ := s.AddUser(User{Username: "alice"})
			if err := s.JoinVoice(guild.ID, missed.ID, alice.ID); err != nil {
				t.Fatal(err)
			}
			js.expect("VOICE_STATE_UPDATE", func(e jsEvent) bool {
				if isDispatch("CHANNEL_CREATE", missed.ID)(e) {
					t.Fatal("the missed CHANNEL_CREATE arrived twice")
				}
				return e.Event == "dispatch" && e.T == "VOICE_STATE_UPDATE"
			})

			js.send(map[string]any{"cmd": "exit"})
			js.expect("exit", isEvent("exit"))
			waitFor(t, "the session to end after the client's 1000", 5*time.Second, func() bool {
				return len(s.Sessions()) == 0
			})
			if strings.Contains(js.stderr.String(), testToken) {
				t.Fatal("the node client printed the token")
			}
		})
	}
}
