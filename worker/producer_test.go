package worker

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/bwmarrin/discordgo"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/worker/deadletter"
	"github.com/spellcoven/gateway/worker/metrics"
	"github.com/spellcoven/gateway/worker/outbox"
	"github.com/spellcoven/gateway/worker/translate"
)

const (
	pGuild    = "1100000000000000001"
	pCategory = "1110000000000000001"
	pRoom     = "1200000000000000001"
	pUser     = "1300000000000000001"
)

type producerRig struct {
	p  *Producer
	ob *outbox.Outbox
	dl *deadletter.Store
	m  *metrics.Metrics
}

func newProducerRig(t *testing.T, maxPending int) *producerRig {
	t.Helper()
	ob, err := outbox.Open(t.TempDir(), outbox.Options{GuildID: pGuild, MaxPendingEvents: maxPending})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	dl, _ := deadletter.Open(t.TempDir(), 0)
	m := metrics.New()
	return &producerRig{p: NewProducer(translate.Config{GuildID: pGuild, CategoryID: pCategory}, ob, dl, m, nil), ob: ob, dl: dl, m: m}
}

// events renders the outbox's pending events as "type" or "type:detail".
func (r *producerRig) events(t *testing.T) []string {
	t.Helper()
	st := r.ob.Stats()
	recs, err := r.ob.Read(st.Cursor+1, 1000, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rec := range recs {
		e, err := event.Decode(rec.JSON)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := e.Payload()
		switch v := p.(type) {
		case *event.SystemStatusPayload:
			out = append(out, "status:"+v.Discord)
		case *event.SnapshotPayload:
			members := 0
			for _, rs := range v.Rooms {
				members += len(rs.Members)
			}
			out = append(out, fmt.Sprintf("snapshot:%d/%d", len(v.Rooms), members))
		default:
			out = append(out, string(e.Type))
		}
	}
	return out
}

func guildCreate() *discordgo.GuildCreate {
	return &discordgo.GuildCreate{Guild: &discordgo.Guild{ID: pGuild, Channels: []*discordgo.Channel{
		{ID: pRoom, GuildID: pGuild, Type: discordgo.ChannelTypeGuildVoice, ParentID: pCategory, Name: "Table"},
	}}}
}

func join(user, channel string) *discordgo.VoiceStateUpdate {
	return &discordgo.VoiceStateUpdate{VoiceState: &discordgo.VoiceState{GuildID: pGuild, UserID: user, ChannelID: channel,
		Member: &discordgo.Member{User: &discordgo.User{ID: user, Username: "u"}}}}
}

func TestProducerLifecycle(t *testing.T) {
	ready := &discordgo.Ready{Guilds: []*discordgo.Guild{{ID: pGuild}}}
	cases := []struct {
		name  string
		steps func(p *Producer)
		want  string
	}{
		{"ready then guild: snapshot then up", func(p *Producer) {
			p.HandleDispatch("READY", ready)
			p.HandleDispatch("GUILD_CREATE", guildCreate())
		}, "snapshot:1/0 status:up"},
		{"dispatches before the guild's state are covered by the snapshot", func(p *Producer) {
			p.HandleDispatch("READY", ready)
			p.HandleDispatch("VOICE_STATE_UPDATE", join(pUser, pRoom))
			p.HandleDispatch("GUILD_CREATE", guildCreate())
		}, "snapshot:1/0 status:up"},
		{"voice and channel events", func(p *Producer) {
			p.HandleDispatch("GUILD_CREATE", guildCreate())
			p.HandleDispatch("VOICE_STATE_UPDATE", join(pUser, pRoom))
			p.HandleDispatch("CHANNEL_DELETE", &discordgo.ChannelDelete{Channel: &discordgo.Channel{ID: pRoom, GuildID: pGuild}})
		}, "snapshot:1/0 status:up voice.joined room.deleted"},
		{"link lost then resumed: reconnecting, snapshot, up", func(p *Producer) {
			p.HandleDispatch("GUILD_CREATE", guildCreate())
			p.HandleDispatch("VOICE_STATE_UPDATE", join(pUser, pRoom))
			p.LinkDown()
			p.LinkDown()
			p.HandleDispatch("RESUMED", &discordgo.Resumed{})
		}, "snapshot:1/0 status:up voice.joined status:reconnecting snapshot:1/1 status:up"},
		{"stop: down, and a later link loss does not say reconnecting", func(p *Producer) {
			p.HandleDispatch("GUILD_CREATE", guildCreate())
			p.Stop()
			p.LinkDown()
		}, "snapshot:1/0 status:up status:down"},
		{"another guild is ignored", func(p *Producer) {
			p.HandleDispatch("GUILD_CREATE", &discordgo.GuildCreate{Guild: &discordgo.Guild{ID: "1100000000000000009"}})
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newProducerRig(t, 0)
			c.steps(r.p)
			if got := strings.Join(r.events(t), " "); got != c.want {
				t.Fatalf("outbox holds %q, want %q", got, c.want)
			}
		})
	}
}

func TestAppendSnapshotNeedsState(t *testing.T) {
	r := newProducerRig(t, 0)
	if _, err := r.p.AppendSnapshot("snapshot_required"); err != ErrNotSynced {
		t.Fatalf("AppendSnapshot before GUILD_CREATE: %v", err)
	}
	r.p.HandleDispatch("GUILD_CREATE", guildCreate())
	// GUILD_CREATE's snapshot (seq 1, then the link status) is pending: it is the answer, and a
	// new one would supersede the link status after it.
	seq, err := r.p.AppendSnapshot("snapshot_required")
	if err != nil || seq != 1 {
		t.Fatalf("AppendSnapshot with a snapshot pending = %d, %v", seq, err)
	}
	// Once it was delivered, a new one.
	if _, err := r.ob.Ack(2); err != nil {
		t.Fatal(err)
	}
	seq, err = r.p.AppendSnapshot("snapshot_required")
	if err != nil || seq != 3 {
		t.Fatalf("AppendSnapshot = %d, %v", seq, err)
	}
	if v := metrics.Value(r.m.Snapshots); v != 2 {
		t.Fatalf("snapshots metric %v", v)
	}
}

// TestFullOutboxCollapsesIntoASnapshot fills the outbox while nothing is delivered: it stays within
// its bound, and what is pending always ends in the current state.
func TestFullOutboxCollapsesIntoASnapshot(t *testing.T) {
	r := newProducerRig(t, 10)
	r.p.HandleDispatch("GUILD_CREATE", guildCreate()) // 2 events
	for i := 0; i < 30; i++ {
		user := fmt.Sprintf("13%017d", i)
		r.p.HandleDispatch("VOICE_STATE_UPDATE", join(user, pRoom))
		if st := r.ob.Stats(); st.PendingEvents > 10 {
			t.Fatalf("outbox grew past its bound: %+v", st)
		}
	}
	evs := r.events(t)
	// Every pending sequence starts with a snapshot that includes the members joined so far.
	if !strings.HasPrefix(evs[0], "snapshot:1/") {
		t.Fatalf("pending events %v", evs)
	}
	var members int
	fmt.Sscanf(evs[0], "snapshot:1/%d", &members)
	if members+len(evs)-1 != 30 {
		t.Fatalf("snapshot holds %d members and %d joins follow; want 30 in all: %v", members, len(evs)-1, evs)
	}
	if metrics.Value(r.m.OutboxFull) == 0 || metrics.Value(r.m.Superseded) == 0 {
		t.Fatal("collapse not counted")
	}
}

func TestReplayLetters(t *testing.T) {
	r := newProducerRig(t, 0)
	r.p.HandleDispatch("GUILD_CREATE", guildCreate())
	good, _ := event.New(event.Position{Epoch: "old", Seq: 7}, pGuild, r.p.now(), event.VoiceLeft, event.VoiceLeftPayload{RoomID: pRoom, UserID: pUser})
	goodRaw, _ := json.Marshal(good)
	r.dl.Put(deadletter.Letter{ID: "old-7-7", Status: 400, Events: []json.RawMessage{goodRaw}})
	r.dl.Put(deadletter.Letter{ID: "old-8-8", Status: 400, Events: []json.RawMessage{json.RawMessage(`{"v":1}`)}})
	r.dl.RequestReplay()
	n, err := r.p.ReplayLetters()
	if err != nil || n != 1 {
		t.Fatalf("ReplayLetters = %d, %v", n, err)
	}
	if got := strings.Join(r.events(t), " "); got != "snapshot:1/0 status:up voice.left snapshot:1/0" {
		t.Fatalf("outbox after replay %q", got)
	}
	if left, _ := r.dl.List(); len(left) != 1 || left[0].ID != "old-8-8" {
		t.Fatalf("letters left %+v", left)
	}
	if rs, _ := r.dl.Replays(); len(rs) != 0 {
		t.Fatalf("replays left %+v", rs)
	}
}

// TestFailedWriteIsFollowedByASnapshot checks that events the outbox refused are not silently
// missing: the next write starts with a snapshot that includes them.
func TestFailedWriteIsFollowedByASnapshot(t *testing.T) {
	r := newProducerRig(t, 0)
	r.p.HandleDispatch("GUILD_CREATE", guildCreate())
	r.p.mu.Lock()
	_, err := r.p.write([]outbox.Item{{Type: event.RoomCreated, Payload: event.RoomPayload{Room: event.Room{ID: "bad"}}}})
	r.p.mu.Unlock()
	if err == nil {
		t.Fatal("an invalid event was written")
	}
	if v := metrics.Value(r.m.Dropped); v != 1 {
		t.Fatalf("dropped metric %v", v)
	}
	r.p.HandleDispatch("VOICE_STATE_UPDATE", join(pUser, pRoom))
	r.p.HandleDispatch("VOICE_STATE_UPDATE", join("1300000000000000002", pRoom))
	if got := strings.Join(r.events(t), " "); got != "snapshot:1/0 status:up snapshot:1/1 voice.joined" {
		t.Fatalf("outbox holds %q", got)
	}
}
