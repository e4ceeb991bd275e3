package voicectl

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/relay"
	"github.com/spellcoven/gateway/relay/relaytest"
	"github.com/spellcoven/gateway/webhook"
)

// testRoom4 is a fourth room, table view on, added by the pool's tests.
const testRoom4 = "1200000000000000004"

// poolOptions is table view with voice bots beside the main bot.
func poolOptions(voiceBots int, idle time.Duration) harnessOptions {
	o := tableOptions(idle)
	o.voiceBots = voiceBots
	return o
}

// cameraIn puts an emulated user in room with their camera on (the test clip, looped).
func cameraIn(t *testing.T, h *harness, room, id string) *voiceserver.User {
	t.Helper()
	u, err := h.vs.JoinUser(testGuild, room, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.StartCamera(readIVF(t, "../../voice/testdata/media/clip.ivf"), 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.StopCamera() })
	return u
}

// botIn returns the status of the bot in room, from Status().Bots.
func botIn(st Status, room string) (Status, bool) {
	for _, b := range st.Bots {
		if b.RoomID == room {
			return b, true
		}
	}
	return Status{}, false
}

// TestPoolRelaysTwoRoomsAtOnce: with one voice bot beside the main bot, viewers of two rooms
// watch at once, each room relayed by its own bot (asked for concurrently); a third room gets
// 409 no_free_voice_bot naming the count; a bot freed by the idle leave serves the next room.
func TestPoolRelaysTwoRoomsAtOnce(t *testing.T) {
	e := newEndpointWith(t, poolOptions(1, 300*time.Millisecond), webhook.SchemeCoven, testSecret, nil)
	h := e.harness
	h.discord.mu.Lock()
	h.discord.rooms[testRoom4] = event.Room{ID: testRoom4, Name: "Table four", TableView: true}
	h.discord.mu.Unlock()
	const member1, member2 = testUser2, "1400000000000000003"
	cameraIn(t, h, testRoom, member1)
	cameraIn(t, h, testRoom2, member2)
	ctx := context.Background()

	v1, v2 := relaytest.NewViewer(t, relaytest.Video), relaytest.NewViewer(t, relaytest.Video)
	var a1, a2 WatchAnswer
	var err1, err2 error
	var wg sync.WaitGroup
	wg.Go(func() {
		a1, err1 = e.client.Watch(ctx, WatchRequest{RoomID: testRoom, MemberID: member1, ViewerID: testUser1, Offer: v1.Offer})
	})
	wg.Go(func() {
		a2, err2 = e.client.Watch(ctx, WatchRequest{RoomID: testRoom2, MemberID: member2, ViewerID: testUser1, Offer: v2.Offer})
	})
	wg.Wait()
	if err1 != nil || err2 != nil {
		t.Fatalf("watching two rooms at once: %v / %v", err1, err2)
	}
	v1.Answer(t, a1.Answer)
	v2.Answer(t, a2.Answer)
	relaytest.WaitFor(t, "each room's camera at its viewer", 20*time.Second, func() bool {
		return len(v1.Frames()) >= 3 && len(v2.Frames()) >= 3
	})
	if v1.StreamID("video") != member1 || v2.StreamID("video") != member2 {
		t.Fatalf("streams %q and %q, want %s and %s", v1.StreamID("video"), v2.StreamID("video"), member1, member2)
	}
	st := h.ctl.Status()
	if len(st.Bots) != 2 {
		t.Fatalf("status lists %d bots, want 2: %+v", len(st.Bots), st)
	}
	b1, ok1 := botIn(st, testRoom)
	b2, ok2 := botIn(st, testRoom2)
	if !ok1 || !ok2 || b1.State != StateConnected || b2.State != StateConnected || b1.BotID == b2.BotID ||
		b1.Table == nil || b1.Table.Sessions != 1 || b2.Table == nil || b2.Table.Sessions != 1 {
		t.Fatalf("each room is to have its own bot, connected, with one viewer: %+v", st.Bots)
	}
	for _, id := range []string{b1.BotID, b2.BotID} {
		if id != testBot && id != voiceBotID(1) {
			t.Fatalf("unknown bot %q in %+v", id, st.Bots)
		}
	}
	if st.Bots[0].BotID != testBot || st.BotID != testBot {
		t.Fatalf("the main bot is to come first: %+v", st.Bots)
	}
	if got := metricValue(t, h.reg, "coven_worker_voice_bots", nil); got != 2 {
		t.Errorf("coven_worker_voice_bots = %v", got)
	}
	if got := metricValue(t, h.reg, "coven_worker_voice_bots_busy", nil); got != 2 {
		t.Errorf("coven_worker_voice_bots_busy = %v", got)
	}
	// Each bot asked Discord for its own room, on its own gateway.
	if ops, vops := h.discord.opsSent(), h.voiceBots[0].opsSent(); len(ops) != 1 || len(vops) != 1 || ops[0] == vops[0] {
		t.Fatalf("op 4 on the main gateway %q, on the voice bot's %q", ops, vops)
	}

	// A third room: every bot is busy.
	v3 := relaytest.NewViewer(t, relaytest.Video)
	_, err := e.client.Watch(ctx, WatchRequest{RoomID: testRoom4, MemberID: member1, ViewerID: testUser1, Offer: v3.Offer})
	ce := wantCode(t, err, CodeNoFreeVoiceBot)
	if !strings.Contains(ce.Message, "all 2 voice bots are relaying other rooms") {
		t.Errorf("message %q", ce.Message)
	}
	// A join by hand is refused alike, and the room already relayed answers its bot.
	_, err = e.client.Join(ctx, testRoom4)
	wantCode(t, err, CodeNoFreeVoiceBot)
	if js, err := e.client.Join(ctx, testRoom2); err != nil || js.RoomID != testRoom2 || js.BotID != b2.BotID {
		t.Fatalf("join of a relayed room: %+v, %v", js, err)
	}

	// Room one's viewer goes: its bot leaves after the idle timeout, and serves room four.
	if err := e.client.Unwatch(ctx, UnwatchRequest{SessionID: a1.SessionID, ViewerID: testUser1}); err != nil {
		t.Fatal(err)
	}
	st = h.waitStatus("room one's bot to leave", 20*time.Second, func(st Status) bool {
		_, in := botIn(st, testRoom)
		return !in && len(st.Bots) == 2
	})
	for _, b := range st.Bots {
		if b.BotID == b1.BotID && (b.State != StateIdle || b.LastEnd == nil || b.LastEnd.Reason != EndIdle) {
			t.Fatalf("the freed bot: %+v", b)
		}
	}
	if _, in := botIn(st, testRoom2); !in {
		t.Fatalf("room two's bot left too: %+v", st.Bots)
	}
	cameraIn(t, h, testRoom4, "1400000000000000004")
	if _, err := e.client.Watch(ctx, WatchRequest{RoomID: testRoom4, MemberID: "1400000000000000004", ViewerID: testUser1, Offer: v3.Offer}); err != nil {
		t.Fatalf("the freed bot is to serve room four: %v", err)
	}
	b4, ok := botIn(h.ctl.Status(), testRoom4)
	if !ok || b4.BotID != b1.BotID {
		t.Fatalf("room four's bot %+v, want the freed %s", b4, b1.BotID)
	}
	if got := metricValue(t, h.reg, "coven_worker_voice_calls_ended_total", map[string]string{"reason": EndIdle}); got != 1 {
		t.Errorf("calls ended idle = %v", got)
	}
}

// TestPoolJoinAndLeaveByHand: `voice join` takes the main bot first, then a free voice bot;
// `voice leave` without a room is the main bot's, with one the bot in that room's; table view
// prefers the voice bots and then uses the main bot.
func TestPoolJoinAndLeaveByHand(t *testing.T) {
	e := newEndpointWith(t, poolOptions(1, time.Minute), webhook.SchemeCoven, testSecret, nil)
	h := e.harness
	ctx := context.Background()
	st, err := e.client.Join(ctx, testRoom)
	if err != nil || st.BotID != testBot || st.RoomID != testRoom || len(st.Bots) != 2 {
		t.Fatalf("join by hand: %+v, %v", st, err)
	}
	st, err = e.client.Join(ctx, testRoom2)
	if err != nil || st.BotID != voiceBotID(1) || st.RoomID != testRoom2 {
		t.Fatalf("a second room by hand takes the voice bot: %+v, %v", st, err)
	}
	_, err = e.client.LeaveRoom(ctx, "1200000000000000099")
	wantCode(t, err, CodeNotConnected)
	_, err = e.client.LeaveRoom(ctx, "x")
	wantCode(t, err, CodeBadRequest)
	st, err = e.client.LeaveRoom(ctx, testRoom2)
	if err != nil {
		t.Fatal(err)
	}
	if _, in := botIn(st, testRoom2); in || st.RoomID != testRoom {
		t.Fatalf("after leaving room two: %+v", st)
	}
	// Table view uses the bot already in the room...
	v := relaytest.NewViewer(t, relaytest.Video)
	if _, err := e.client.Watch(ctx, WatchRequest{RoomID: testRoom, MemberID: testUser2, ViewerID: testUser1, Offer: v.Offer}); err != nil {
		t.Fatal(err)
	}
	if b, _ := botIn(h.ctl.Status(), testRoom); b.BotID != testBot {
		t.Fatalf("the bot already in the room is to relay it: %+v", h.ctl.Status().Bots)
	}
	// ... and the voice bot for another room.
	if _, err := e.client.Watch(ctx, WatchRequest{RoomID: testRoom2, MemberID: testUser2, ViewerID: testUser1, Offer: relaytest.NewViewer(t, relaytest.Video).Offer}); err != nil {
		t.Fatal(err)
	}
	if b, _ := botIn(h.ctl.Status(), testRoom2); b.BotID != voiceBotID(1) {
		t.Fatalf("room two's bot: %+v", h.ctl.Status().Bots)
	}
	st, err = e.client.Leave(ctx)
	if err != nil || st.State != StateIdle || st.BotID != testBot {
		t.Fatalf("leave by hand is the main bot's: %+v, %v", st, err)
	}
	if _, in := botIn(st, testRoom2); !in {
		t.Fatalf("the voice bot left with the main bot: %+v", st.Bots)
	}
}

// TestPoolNotReady: a voice bot whose gateway has not said READY is not chosen; with no other
// free bot, table view answers 503 not_ready.
func TestPoolNotReady(t *testing.T) {
	o := poolOptions(1, time.Minute)
	h := newHarness(t, o)
	h.ctl.VoiceBot(1).SetBotID("")
	if h.ctl.VoiceBot(0) != nil || h.ctl.VoiceBot(2) != nil {
		t.Fatal("VoiceBot answers out of range")
	}
	if _, err := h.ctl.Join(testRoom); err != nil {
		t.Fatal(err)
	}
	v := relaytest.NewViewer(t, relaytest.Video)
	_, err := h.ctl.Watch(context.Background(), WatchRequest{RoomID: testRoom2, MemberID: testUser2, ViewerID: testUser1, Offer: v.Offer})
	ce := wantCode(t, err, CodeNotReady)
	if !strings.Contains(ce.Message, "1 of the 2 voice bots have not connected") {
		t.Errorf("message %q", ce.Message)
	}
	if ids := h.ctl.BotIDs(); len(ids) != 2 || ids[0] != testBot || ids[1] != "" {
		t.Errorf("BotIDs %q", ids)
	}
}

// TestPoolConfig: a nil voice bot gateway is refused.
func TestPoolConfig(t *testing.T) {
	_, err := New(Config{GuildID: testGuild, Gateway: &fakeDiscord{}, Rooms: &fakeDiscord{}, VoiceBots: []Gateway{nil},
		Table: &relay.Config{ListenIP: "127.0.0.1"}})
	if err == nil || !strings.Contains(err.Error(), "VoiceBots[0]") {
		t.Fatalf("error %v", err)
	}
}
