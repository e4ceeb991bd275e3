package voicectl

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/internal/syncbuf"
	"github.com/spellcoven/gateway/voice"
)

// Identities of the emulated guild, rooms and bot.
const (
	testGuild = "1100000000000000001"
	testRoom  = "1200000000000000001"
	testRoom2 = "1200000000000000002"
	testRoom3 = "1200000000000000003" // table view off
	testBot   = "1300000000000000001"
)

// answer is how the fake main gateway answers op 4.
type answer int

const (
	// answerAtOnce: VOICE_STATE_UPDATE, then VOICE_SERVER_UPDATE with the voice server.
	answerAtOnce answer = iota
	// answerNullFirst: VOICE_SERVER_UPDATE with a null endpoint first, the real one 100 ms later.
	answerNullFirst
	// answerNever: nothing.
	answerNever
)

// fakeDiscord is the main gateway and the guild's mirror as the Controller sees them: op 4 is
// answered with the dispatches Discord sends, carrying grants of a real voice server.
type fakeDiscord struct {
	t   *testing.T
	vs  *voiceserver.Server
	ctl *Controller
	// bot is the bot user whose gateway this is (default testBot).
	bot string

	mu      sync.Mutex
	rooms   map[string]event.Room
	synced  bool
	answer  answer
	offline bool
	ops     []string // channel of each op 4, "" for a leave
	tokens  []string // the voice tokens handed out
	session int
	wg      sync.WaitGroup
	// leaveHeld, when set, holds each leave's op 4 until it is closed (a slow gateway), after
	// telling leaveSeen.
	leaveHeld chan struct{}
	leaveSeen chan struct{}
}

func (f *fakeDiscord) LookupRoom(id string) (event.Room, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.synced {
		return event.Room{}, false, errors.New("the guild's state is not known yet")
	}
	r, ok := f.rooms[id]
	return r, ok, nil
}

func (f *fakeDiscord) UpdateVoiceState(guildID, channelID string, _, _ bool) error {
	f.mu.Lock()
	if held := f.leaveHeld; held != nil && channelID == "" {
		seen := f.leaveSeen
		f.mu.Unlock()
		seen <- struct{}{}
		<-held
		f.mu.Lock()
	}
	if f.offline {
		f.mu.Unlock()
		return errors.New("not connected")
	}
	f.ops = append(f.ops, channelID)
	f.session++
	sessionID := "voice-session-" + strconv.Itoa(f.session)
	how := f.answer
	bot := f.bot
	f.mu.Unlock()
	if bot == "" {
		bot = testBot
	}
	if channelID == "" {
		f.vs.Release(guildID, bot)
		f.dispatch(&discordgo.VoiceStateUpdate{VoiceState: &discordgo.VoiceState{GuildID: guildID, UserID: bot, SessionID: sessionID}})
		return nil
	}
	if how == answerNever {
		return nil
	}
	f.dispatch(&discordgo.VoiceStateUpdate{VoiceState: &discordgo.VoiceState{GuildID: guildID, ChannelID: channelID, UserID: bot, SessionID: sessionID}})
	grant := func() *discordgo.VoiceServerUpdate {
		endpoint, token := f.vs.Allocate(discordtest.VoiceGrant{GuildID: guildID, ChannelID: channelID, UserID: bot, SessionID: sessionID})
		f.mu.Lock()
		f.tokens = append(f.tokens, token)
		f.mu.Unlock()
		return &discordgo.VoiceServerUpdate{GuildID: guildID, Token: token, Endpoint: endpoint}
	}
	if how == answerNullFirst {
		f.dispatch(&discordgo.VoiceServerUpdate{GuildID: guildID, Token: "unused"})
		f.wg.Go(func() {
			time.Sleep(100 * time.Millisecond)
			f.dispatch(grant())
		})
		return nil
	}
	f.dispatch(grant())
	return nil
}

func (f *fakeDiscord) dispatch(ev any) { f.ctl.HandleDispatch("", ev) }

func (f *fakeDiscord) opsSent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ops...)
}

// harness is a Controller against a fake main gateway and a real voice server.
type harness struct {
	t       *testing.T
	vs      *voiceserver.Server
	discord *fakeDiscord
	// voiceBots are the gateways of the voice bots beyond the main one (harnessOptions.voiceBots).
	voiceBots []*fakeDiscord
	ctl       *Controller
	reg       *prometheus.Registry
	media     string
	records   string
	logs      *lockedBuffer
}

// lockedBuffer collects output written from several goroutines.
type lockedBuffer = syncbuf.Buffer

type harnessOptions struct {
	answer     answer
	serverMode func(*voiceserver.Config)
	mutate     func(*Config)
	// voiceBots is how many voice bots the pool holds beside the main bot.
	voiceBots int
}

// voiceBotID is the user id of voice bot i (1, 2, ...).
func voiceBotID(i int) string { return "13000000000000001" + strconv.Itoa(10+i) }

func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	vcfg := voiceserver.Config{HeartbeatInterval: 200 * time.Millisecond, HeartbeatTimeout: time.Minute}
	if o.serverMode != nil {
		o.serverMode(&vcfg)
	}
	vs, err := voiceserver.New(vcfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := vs.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vs.Close() })
	h := &harness{t: t, vs: vs, reg: prometheus.NewRegistry(), media: t.TempDir(), records: t.TempDir(), logs: new(lockedBuffer)}
	h.discord = &fakeDiscord{t: t, vs: vs, synced: true, answer: o.answer, rooms: map[string]event.Room{
		testRoom:  {ID: testRoom, Name: "Table one", TableView: true},
		testRoom2: {ID: testRoom2, Name: "Table two", TableView: true},
		testRoom3: {ID: testRoom3, Name: "Table three"},
	}}
	copyFile(t, "../../voice/testdata/media/tone-a.opus", filepath.Join(h.media, "tone-a.opus"))
	cfg := Config{
		GuildID: testGuild, Gateway: h.discord, Rooms: h.discord,
		MediaDir: h.media, RecordingsDir: h.records,
		JoinTimeout: 2 * time.Second,
		Voice:       voice.Config{Scheme: "ws", HandshakeTimeout: 3 * time.Second},
		Metrics:     h.reg,
		Logger:      slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for i := 1; i <= o.voiceBots; i++ {
		f := &fakeDiscord{t: t, vs: vs, synced: true, answer: o.answer, bot: voiceBotID(i)}
		h.voiceBots = append(h.voiceBots, f)
		cfg.VoiceBots = append(cfg.VoiceBots, f)
	}
	if o.mutate != nil {
		o.mutate(&cfg)
	}
	h.ctl, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.discord.ctl = h.ctl
	for i, f := range h.voiceBots {
		f.ctl = h.ctl.VoiceBot(i + 1)
	}
	t.Cleanup(func() {
		h.ctl.Close()
		h.discord.wg.Wait()
		logs := h.logs.String()
		secrets := []string{testSecret}
		for _, f := range append([]*fakeDiscord{h.discord}, h.voiceBots...) {
			f.wg.Wait()
			f.mu.Lock()
			secrets = append(secrets, f.tokens...)
			f.mu.Unlock()
		}
		for _, secret := range secrets {
			if strings.Contains(logs, secret) {
				t.Errorf("a secret appears in the logs")
			}
		}
		if t.Failed() {
			t.Logf("controller logs:\n%s", logs)
		}
	})
	h.ctl.HandleDispatch("READY", &discordgo.Ready{User: &discordgo.User{ID: testBot}})
	for _, f := range h.voiceBots {
		f.dispatch(&discordgo.Ready{User: &discordgo.User{ID: f.bot}})
	}
	return h
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// join joins testRoom and fails the test on an error.
func (h *harness) join() Status {
	h.t.Helper()
	st, err := h.ctl.Join(testRoom)
	if err != nil {
		h.t.Fatalf("Join: %v", err)
	}
	return st
}

// waitStatus polls the status until ok holds, for at most d.
func (h *harness) waitStatus(what string, d time.Duration, ok func(Status) bool) Status {
	h.t.Helper()
	deadline := time.Now().Add(d)
	for {
		st := h.ctl.Status()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: not within %v; status %+v", what, d, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitReceived waits until the voice server has received n packets from ssrc, and fails the test
// if it has not within ten seconds or has received more.
func (h *harness) waitReceived(ssrc uint32, n int) []voiceserver.ReceivedPacket {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := h.vs.Received(ssrc)
		if len(got) > n || len(got) < n && time.Now().After(deadline) {
			h.t.Fatalf("the voice server received %d packets from %d, want %d", len(got), ssrc, n)
		}
		if len(got) == n {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantCode checks that err is an *Error with code.
func wantCode(t *testing.T, err error, code string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("error %v, want code %s", err, code)
	}
	return e
}

// readOpus returns the packets of an Ogg Opus file.
func readOpus(t *testing.T, path string) [][]byte {
	t.Helper()
	packets, err := voice.ReadOggOpusFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return packets
}

// metricValue sums the samples of a metric family in reg whose labels include want.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}
