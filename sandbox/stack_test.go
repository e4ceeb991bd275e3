package sandbox

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/internal/freeport"
	"github.com/spellcoven/gateway/internal/syncbuf"
	"github.com/spellcoven/gateway/voice"
	"github.com/spellcoven/gateway/worker/voicectl"
)

// lockedBuffer collects output written from several goroutines.
type lockedBuffer = syncbuf.Buffer

func freeTestPort(t *testing.T) int {
	t.Helper()
	p, err := freeport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// call sends a request to the edge and returns the status and body.
func call(t *testing.T, s *Stack, method, path string, header http.Header, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// demoToken signs in a demo user through the edge, as the page does.
func demoToken(t *testing.T, s *Stack, sub string) string {
	t.Helper()
	code, body := call(t, s, "POST", "/dev-idp/token?user="+sub, http.Header{"Origin": {s.URL()}}, "")
	var got struct{ Token string }
	if err := json.Unmarshal([]byte(body), &got); code != http.StatusOK || err != nil || got.Token == "" {
		t.Fatalf("token for %s: %d %s", sub, code, body)
	}
	return got.Token
}

// TestStack starts the whole sandbox once and checks what a newcomer relies on, then stops it and
// checks that it stopped cleanly and that no secret reached its log.
func TestStack(t *testing.T) {
	logs := &lockedBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// A state directory with a space and a quote in its name stays one Caddyfile argument.
	dir := filepath.Join(t.TempDir(), `Coven "sandbox" state`)
	s, err := Start(ctx, Config{Port: freeTestPort(t), RepoRoot: "..", Dir: dir, Log: logs, Verbose: true})
	if err != nil {
		t.Fatalf("start: %v\n%s", err, logs)
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
		if t.Failed() {
			t.Logf("sandbox log:\n%s", logs)
		}
	}()

	steps := []struct {
		name string
		run  func(t *testing.T, s *Stack)
	}{
		{"the page and its modules are served, tests and tooling are not", testServesThePage},
		{"demo users get tokens, nobody else does", testDemoUserTokens},
		{"the development endpoints refuse calls from other sites", testForeignOrigins},
		{"the emulator's control API is reached through the edge without its token", testControlProxy},
		{"a room created through the rooms API reaches the stream", testRoomReachesStream},
		{"an emulated user joining reaches the stream", testJoinReachesStream},
		{"tokens signed with a rotated key open the stream", testKeyRotation},
		{"the edge killed and started again serves Discord's state", testEdgeRestart},
		{"the worker joins a room's voice call with DAVE and plays the chime", testVoice},
		{"two voice bots sit in two rooms' calls at once", testTwoVoiceBots},
	}
	for _, step := range steps {
		if !t.Run(step.name, func(t *testing.T) { step.run(t, s) }) {
			t.FailNow()
		}
	}

	select {
	case err := <-s.Failed():
		t.Fatalf("a part failed while serving: %v", err)
	default:
	}
	run := s.runDir
	s.mu.Lock()
	worker, edge := s.worker, s.edge
	s.mu.Unlock()
	closed = true
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if !worker.Exited() || !edge.Exited() {
		t.Fatal("a process outlived Close")
	}
	if _, err := os.Stat(run); !os.IsNotExist(err) {
		t.Fatalf("the run's directory is still there: %v", err)
	}
	if _, err := os.Stat(s.RootCA()); err != nil {
		t.Fatalf("the local CA was not kept for the next run: %v", err)
	}
	out := logs.String()
	for name, secret := range map[string]string{
		"bot token": s.secrets.botToken, "voice bot token": s.secrets.voiceBotToken, "webhook secret": s.secrets.webhookSecret, "control token": s.secrets.controlToken,
	} {
		if strings.Contains(out, secret) {
			t.Errorf("the %s appears in the log", name)
		}
	}
	for _, part := range []string{"sandbox | ", "discord | ", "idp     | ", "edge    | ", "worker  | "} {
		if !strings.Contains(out, part) {
			t.Errorf("no line of %q in the verbose log", part)
		}
	}
}

func testServesThePage(t *testing.T, s *Stack) {
	tests := []struct {
		path     string
		status   int
		contains string
	}{
		{"/", http.StatusOK, "<title>Spell Coven sandbox</title>"},
		{"/app.js", http.StatusOK, "CovenClient"},
		{"/coven-client.js", http.StatusOK, "export class CovenClient"},
		{"/style.css", http.StatusOK, ""},
		{"/node_modules/ws/package.json", http.StatusNotFound, ""},
		{"/web_test.go", http.StatusNotFound, ""},
		{"/doc.go", http.StatusNotFound, ""},
		{"/test/api.test.js", http.StatusNotFound, ""},
		{"/testsupport/harness.js", http.StatusNotFound, ""},
		{"/bench/client.bench.js", http.StatusNotFound, ""},
		{"/package.json", http.StatusNotFound, ""},
		{"/package-lock.json", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		code, body := call(t, s, "GET", tt.path, nil, "")
		if code != tt.status || !strings.Contains(body, tt.contains) {
			t.Errorf("GET %s: %d (want %d), body holds %q: %v", tt.path, code, tt.status, tt.contains, strings.Contains(body, tt.contains))
		}
	}
}

func testDemoUserTokens(t *testing.T, s *Stack) {
	before := s.TokensIssued("bob")
	tok := demoToken(t, s, "bob")
	claims, err := decodeClaims(tok)
	if err != nil {
		t.Fatal(err)
	}
	if claims["discord_id"] != "1300000000000000002" || claims["aud"] != Audience || claims["iss"] != s.IdPURL() {
		t.Fatalf("claims %v", claims)
	}
	if got := s.TokensIssued("bob"); got != before+1 {
		t.Fatalf("tokens issued for bob: %d, want %d", got, before+1)
	}
	tests := []struct {
		name, method, path string
		status             int
		code               string
	}{
		{"unknown user", "POST", "/dev-idp/token?user=mallory", http.StatusNotFound, "unknown_user"},
		{"no user", "POST", "/dev-idp/token", http.StatusNotFound, "unknown_user"},
		{"token by GET", "GET", "/dev-idp/token?user=alice", http.StatusMethodNotAllowed, "method_not_allowed"},
		{"unknown endpoint", "GET", "/dev-idp/admin", http.StatusNotFound, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := call(t, s, tt.method, tt.path, nil, "")
			if code != tt.status || !strings.Contains(body, `"code":"`+tt.code+`"`) || strings.Contains(body, "token\":\"ey") {
				t.Fatalf("%d %s, want %d %s", code, body, tt.status, tt.code)
			}
		})
	}
}

func testForeignOrigins(t *testing.T, s *Stack) {
	tests := []struct {
		name, method, path, origin string
		status                     int
	}{
		{"token for another site", "POST", "/dev-idp/token?user=alice", "https://elsewhere.example", http.StatusForbidden},
		{"emulator for another site", "PUT", "/dev-discord/guilds/" + GuildID + "/voice/1300000000000000011", "https://elsewhere.example", http.StatusForbidden},
		{"same port, other host", "POST", "/dev-idp/rotate", "https://127.0.0.1.example", http.StatusForbidden},
		{"the page itself", "GET", "/dev-idp/users", s.URL(), http.StatusOK},
		{"no origin (curl)", "GET", "/dev-discord/state", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			code, body := call(t, s, tt.method, tt.path, h, `{"channel_id":"`+CategoryID+`"}`)
			if code != tt.status {
				t.Fatalf("%d %s, want %d", code, body, tt.status)
			}
		})
	}
	if g, _ := s.Emulator().GuildState(GuildID); len(g.VoiceStates) != 0 {
		t.Fatalf("a refused call changed the emulator: %+v", g.VoiceStates)
	}
}

func testControlProxy(t *testing.T, s *Stack) {
	code, body := call(t, s, "GET", "/dev-discord/state", nil, "")
	var st discordtest.State
	if err := json.Unmarshal([]byte(body), &st); code != http.StatusOK || err != nil || len(st.Guilds) != 1 || st.Guilds[0].ID != GuildID {
		t.Fatalf("state through the edge: %d %s", code, body)
	}
	var names []string
	for _, u := range st.Users {
		names = append(names, u.Username)
	}
	if want := []string{"alice", "bob", "carol", "dana", "eli", "fay"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("emulated users %v, want %v", names, want)
	}
	// The emulator itself wants the control token, which only the edge holds.
	resp, err := http.Get(s.Emulator().URL() + "/_emulator/state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the control API without its token answered %d", resp.StatusCode)
	}
	// A token sent by the caller is replaced, not passed on.
	code, _ = call(t, s, "GET", "/dev-discord/state", http.Header{"Authorization": {"Bearer guess"}}, "")
	if code != http.StatusOK {
		t.Fatalf("with a caller's Authorization header: %d", code)
	}
}

func testRoomReachesStream(t *testing.T, s *Stack) {
	tok := demoToken(t, s, "carol")
	st, hello := openStream(t, s, tok)
	if hello.Snapshot == nil || len(hello.Snapshot.Rooms) != 1 || hello.Snapshot.Rooms[0].Name != "Lobby" {
		t.Fatalf("hello %s, want a snapshot holding the Lobby", hello.raw)
	}
	code, body := call(t, s, "POST", "/api/rooms", http.Header{
		"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}, "Idempotency-Key": {"k-1"},
	}, `{"name":"Carol's table","user_limit":4}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	var room event.Room
	json.Unmarshal([]byte(body), &room)
	f := st.until(string(event.RoomCreated), room.ID, 15*time.Second)
	var p event.RoomPayload
	if err := json.Unmarshal(f.Data, &p); err != nil || p.Room.Name != "Carol's table" || p.Room.OwnerID != "1300000000000000003" {
		t.Fatalf("room.created %s", f.raw)
	}
}

func testJoinReachesStream(t *testing.T, s *Stack) {
	st, hello := openStream(t, s, demoToken(t, s, "alice"))
	lobby := hello.Snapshot.Rooms[0].ID
	code, body := call(t, s, "PUT", "/dev-discord/guilds/"+GuildID+"/voice/1300000000000000011",
		http.Header{"Origin": {s.URL()}, "Content-Type": {"application/json"}}, `{"channel_id":"`+lobby+`"}`)
	if code != http.StatusNoContent && code != http.StatusOK {
		t.Fatalf("join through the control API: %d %s", code, body)
	}
	f := st.until(string(event.VoiceJoined), "1300000000000000011", 15*time.Second)
	var p event.VoiceMemberPayload
	if err := json.Unmarshal(f.Data, &p); err != nil || p.RoomID != lobby || p.Member.GlobalName != "Dana" {
		t.Fatalf("voice.joined %s", f.raw)
	}
}

func testKeyRotation(t *testing.T, s *Stack) {
	old := s.Issuer().SigningKeyID()
	code, body := call(t, s, "POST", "/dev-idp/rotate", nil, "")
	if code != http.StatusOK || !strings.Contains(body, old) {
		t.Fatalf("rotate: %d %s (the old key %s stays published)", code, body, old)
	}
	if s.Issuer().SigningKeyID() == old {
		t.Fatal("the signing key did not change")
	}
	// The edge learns the new key from the JWKS when a token signed with it arrives.
	_, hello := openStream(t, s, demoToken(t, s, "bob"))
	if hello.Type != "hello" {
		t.Fatalf("%s", hello.raw)
	}
}

func testEdgeRestart(t *testing.T, s *Stack) {
	if err := s.KillEdge(); err != nil {
		t.Fatal(err)
	}
	if err := s.KillEdge(); err == nil {
		t.Fatal("killing a stopped edge did not fail")
	}
	// While the edge is down Discord changes; the worker keeps the events in its outbox.
	if err := s.Emulator().JoinVoice(GuildID, mustLobby(t, s), "1300000000000000012"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.StartEdge(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.StartEdge(ctx); err == nil {
		t.Fatal("starting a running edge did not fail")
	}
	want, err := s.DiscordRooms()
	if err != nil {
		t.Fatal(err)
	}
	_, hello := openStream(t, s, demoToken(t, s, "alice"))
	got := hello.Snapshot.Rooms
	if err := sameRooms(got, want); err != nil {
		t.Fatalf("after the restart the edge holds %s\nDiscord holds %+v", err, want)
	}
}

func mustLobby(t *testing.T, s *Stack) string {
	rooms, err := s.DiscordRooms()
	if err != nil || len(rooms) == 0 || rooms[0].Name != "Lobby" {
		t.Fatalf("rooms %+v, %v", rooms, err)
	}
	return rooms[0].ID
}

// sameRooms compares rooms and their members, ignoring member order and owner marks.
func sameRooms(got, want []event.RoomState) error {
	norm := func(rs []event.RoomState) string {
		var b strings.Builder
		for _, r := range rs {
			fmt.Fprintf(&b, "%s %q limit %d:", r.ID, r.Name, r.UserLimit)
			ms := slices.Clone(r.Members)
			slices.SortFunc(ms, func(a, b event.Member) int { return compareIDs(a.UserID, b.UserID) })
			for _, m := range ms {
				fmt.Fprintf(&b, " %s(%v%v%v%v%v%v)", m.UserID, m.SelfMute, m.SelfDeaf, m.Mute, m.Deaf, m.SelfVideo, m.SelfStream)
			}
			b.WriteString("; ")
		}
		return b.String()
	}
	if g, w := norm(got), norm(want); g != w {
		return fmt.Errorf("%s, want %s", g, w)
	}
	return nil
}

// decodeClaims reads a JWT's claims without verifying it (the edge verifies; this reads what the
// identity provider put in).
func decodeClaims(tok string) (map[string]any, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	return claims, json.Unmarshal(raw, &claims)
}

// testVoice: with the environment file the sandbox prints, `coven-worker voice join` puts the bot
// in the Lobby; a player in the call shares its DAVE group; the chime played reaches the voice
// server end-to-end encrypted and the player hears the file's packets.
func testVoice(t *testing.T, s *Stack) {
	rooms, err := s.DiscordRooms()
	if err != nil || len(rooms) == 0 {
		t.Fatalf("rooms %v %v", rooms, err)
	}
	lobby := rooms[0].ID
	// Dana starts in the Lobby: she is in its call, as her Discord client would be.
	var player *voiceserver.User
	waitFor(t, "Dana in the Lobby's call", func() bool {
		player = s.CallUser("1300000000000000011")
		return player != nil && player.ChannelID == lobby
	})

	voiceCmd := func(args string) string { t.Helper(); return voiceCommand(t, s, args) }
	if out := voiceCmd("join " + lobby); !strings.Contains(out, "joined room "+lobby) {
		t.Fatalf("join: %s", out)
	}
	var st voicectl.Status
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := json.Unmarshal([]byte(voiceCmd("status -json")), &st); err != nil {
			t.Fatal(err)
		}
		e := player.E2EE()
		if st.E2EE != nil && st.E2EE.Active && e != nil && e.Ready() && st.E2EE.PrivacyCode == e.PrivacyCode() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no shared DAVE group: status %+v", st.E2EE)
		}
		time.Sleep(100 * time.Millisecond)
	}
	voiceCmd("play " + ChimeFile)
	want, err := voice.ReadOggOpusFile(filepath.Join("media", ChimeFile))
	if err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(15 * time.Second)
	for len(s.VoiceServer().Received(st.SSRC)) < len(want) {
		if time.Now().After(deadline) {
			t.Fatalf("the voice server received %d of the chime's %d packets", len(s.VoiceServer().Received(st.SSRC)), len(want))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i, p := range s.VoiceServer().Received(st.SSRC)[:len(want)] {
		heard, err := player.Hear(BotID, p.Payload)
		if err != nil || string(heard) != string(want[i]) || string(p.Payload) == string(want[i]) {
			t.Fatalf("packet %d: not the chime's, end-to-end encrypted (%v)", i, err)
		}
	}
	if out := voiceCmd("leave"); !strings.Contains(out, "left") && !strings.Contains(out, "idle") {
		t.Fatalf("leave: %s", out)
	}
}

// voiceCommand runs `coven-worker voice <args>` as a newcomer types it, through a shell that reads
// the environment file.
func voiceCommand(t *testing.T, s *Stack, args string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	script := fmt.Sprintf("set -a; . %s; set +a; exec %s voice %s", shellQuote(s.VoiceEnvFile()), shellQuote(s.workerBin), args)
	out, err := exec.CommandContext(ctx, "sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("coven-worker voice %s: %v\n%s", args, err, out)
	}
	return string(out)
}

// testTwoVoiceBots: the sandbox's worker has two voice bots, so two rooms have a bot in their
// call at once: the main bot in the Lobby, the voice bot in a second room.
func testTwoVoiceBots(t *testing.T, s *Stack) {
	rooms, err := s.DiscordRooms()
	if err != nil || len(rooms) == 0 {
		t.Fatalf("rooms %v %v", rooms, err)
	}
	lobby := rooms[0].ID
	second, err := s.Emulator().CreateChannel(GuildID, discordtest.Channel{Type: discordtest.ChannelTypeGuildVoice, Name: "Second table", ParentID: CategoryID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Emulator().DeleteChannel(second.ID) })
	if out := voiceCommand(t, s, "join "+lobby); !strings.Contains(out, "joined room "+lobby) {
		t.Fatalf("join: %s", out)
	}
	if out := voiceCommand(t, s, "join "+second.ID); !strings.Contains(out, "joined room "+second.ID) || !strings.Contains(out, "bot "+VoiceBotID) {
		t.Fatalf("join of a second room: %s", out)
	}
	var st voicectl.Status
	waitFor(t, "both bots connected, each in its room", func() bool {
		if err := json.Unmarshal([]byte(voiceCommand(t, s, "status -json")), &st); err != nil {
			t.Fatal(err)
		}
		return len(st.Bots) == 2 && st.Bots[0].BotID == BotID && st.Bots[0].RoomID == lobby && st.Bots[0].State == voicectl.StateConnected &&
			st.Bots[1].BotID == VoiceBotID && st.Bots[1].RoomID == second.ID && st.Bots[1].State == voicectl.StateConnected
	})
	if out := voiceCommand(t, s, "status"); !strings.Contains(out, "2 voice bots, 2 in a room") {
		t.Fatalf("status: %s", out)
	}
	voiceCommand(t, s, "leave "+second.ID)
	voiceCommand(t, s, "leave")
	waitFor(t, "both bots out of voice", func() bool {
		g, _ := s.Emulator().GuildState(GuildID)
		for _, vs := range g.VoiceStates {
			if vs.UserID == BotID || vs.UserID == VoiceBotID {
				return false
			}
		}
		return true
	})
}

// waitFor polls cond every 10 ms until it holds, failing the test after 15 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
