package worker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/spellcoven/gateway/worker/discordgw"
	"github.com/spellcoven/gateway/worker/translate"
)

// TestProducerSavesTheSession checks that every append saves the session's position with the
// mirror and the outbox's last seq, in a 0600 file without the token; and that a new producer
// restored from it turns the dispatches a resumed session replays into the same events.
func TestProducerSavesTheSession(t *testing.T) {
	r := newProducerRig(t, 1000)
	dir := t.TempDir()
	path := filepath.Join(dir, SessionStateFile)
	r.p.SaveSessionTo(path)
	pos := discordgw.Position{SessionID: "abc123", ResumeURL: "wss://resume.example"}
	at := func(seq int64) discordgw.Position { p := pos; p.Seq = seq; return p }
	r.p.HandleDispatchAt(at(1), "READY", &discordgo.Ready{User: &discordgo.User{ID: "1100000000000000003"}, Guilds: []*discordgo.Guild{{ID: pGuild}}})
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("a session saved before the guild's state is known: %v", err)
	}
	r.p.HandleDispatchAt(at(2), "GUILD_CREATE", guildCreate())
	r.p.HandleDispatchAt(at(3), "VOICE_STATE_UPDATE", join(pUser, pRoom))

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(strings.ToLower(string(raw)), "token") {
		t.Fatalf("the state names a token: %s", raw)
	}
	last := r.ob.Stats().Last
	st, why := loadSessionState(dir, r.ob.Epoch(), last, time.Minute, time.Now())
	if st == nil {
		t.Fatalf("not resumable: %s", why)
	}
	// The bot's id too: a resumed session sends no READY, and voice needs it.
	if st.Position != at(3) || len(st.Guild.Voice) != 1 || len(st.Guild.Rooms) != 1 || st.BotID != "1100000000000000003" {
		t.Fatalf("saved %+v", st)
	}

	// A restarted worker: a new producer on the same outbox, restored.
	next := NewProducer(translate.Config{GuildID: pGuild, CategoryID: pCategory}, r.ob, r.dl, r.m, nil)
	if err := next.Restore(st); err != nil {
		t.Fatal(err)
	}
	next.SaveSessionTo(path)
	leave := &discordgo.VoiceStateUpdate{VoiceState: &discordgo.VoiceState{GuildID: pGuild, UserID: pUser}}
	next.HandleDispatchAt(at(4), "VOICE_STATE_UPDATE", leave)
	evs := r.events(t)
	if got := strings.Join(evs[len(evs)-2:], " "); got != "voice.joined voice.left" {
		t.Fatalf("events %v", evs)
	}
	if st, _ := loadSessionState(dir, r.ob.Epoch(), r.ob.Stats().Last, time.Minute, time.Now()); st == nil || st.Seq != 4 || len(st.Guild.Voice) != 0 || st.BotID != "1100000000000000003" {
		t.Fatalf("state after the replayed dispatch %+v", st)
	}
}

func TestLoadSessionStateRefusals(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	good := sessionState{SavedAt: now, Epoch: "e1", Last: 7, Position: discordgw.Position{SessionID: "s", Seq: 3}}
	if err := saveSessionState(filepath.Join(dir, SessionStateFile), good); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, epoch string
		last        uint64
		maxAge      time.Duration
		now         time.Time
		why         string
	}{
		{"matches", "e1", 7, time.Minute, now, ""},
		{"another epoch", "e2", 7, time.Minute, now, "the outbox at e2/7"},
		{"outbox moved on", "e1", 8, time.Minute, now, "the outbox at e1/8"},
		{"too old", "e1", 7, time.Minute, now.Add(2 * time.Minute), "more than -gateway-resume-max-age"},
		{"resuming off", "e1", 7, 0, now, "off"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, why := loadSessionState(dir, c.epoch, c.last, c.maxAge, c.now)
			if (st != nil) != (c.why == "") || !strings.Contains(why, c.why) {
				t.Fatalf("state %v, reason %q; want reason %q", st, why, c.why)
			}
		})
	}
	if st, why := loadSessionState(t.TempDir(), "e1", 7, time.Minute, now); st != nil || why != "" {
		t.Fatalf("no file: %v %q", st, why)
	}
	os.WriteFile(filepath.Join(dir, SessionStateFile), []byte("{torn"), 0o600)
	if st, why := loadSessionState(dir, "e1", 7, time.Minute, now); st != nil || !strings.Contains(why, "cannot be read") {
		t.Fatalf("torn file: %v %q", st, why)
	}
}
