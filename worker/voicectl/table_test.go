package voicectl

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/relay"
	"github.com/spellcoven/gateway/relay/relaytest"
	"github.com/spellcoven/gateway/webhook"
)

// tableOptions turns table view on, on loopback, with a short idle timeout.
func tableOptions(idle time.Duration) harnessOptions {
	return harnessOptions{mutate: func(c *Config) {
		c.Table = &relay.Config{ListenIP: "127.0.0.1"}
		c.TableIdleTimeout = idle
	}}
}

// liveMember puts an emulated user in testRoom with their camera (the test clip, looped) and
// microphone on.
func liveMember(t *testing.T, h *harness, id string) (clip [][]byte, u *voiceserver.User) {
	t.Helper()
	clip = readIVF(t, "../../voice/testdata/media/clip.ivf")
	u, err := h.vs.JoinUser(testGuild, testRoom, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.StartCamera(clip, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := u.StartMic(readOpus(t, "../../voice/testdata/media/tone-a.opus")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = u.StopCamera()
		_ = u.StopMic()
	})
	return clip, u
}

// TestTableViewWatchesAMember: the first viewer brings the bot into the room; the viewer gets
// the member's camera (starting at a keyframe) and voice, labelled with the member's user id;
// the bot leaves when no one has watched for the idle timeout.
func TestTableViewWatchesAMember(t *testing.T) {
	e := newEndpointWith(t, tableOptions(300*time.Millisecond), webhook.SchemeCoven, testSecret, nil)
	h := e.harness
	clip, _ := liveMember(t, h, testUser2)
	v := relaytest.NewViewer(t, relaytest.Video, relaytest.Audio)
	ctx := context.Background()
	a, err := e.client.Watch(ctx, WatchRequest{RoomID: testRoom, MemberID: testUser2, ViewerID: testUser1, Offer: v.Offer})
	if err != nil {
		t.Fatal(err)
	}
	if st := h.ctl.Status(); st.State != StateConnected || st.RoomID != testRoom || st.Table == nil || st.Table.Sessions != 1 {
		t.Fatalf("after the first viewer: %+v", st)
	}
	v.Answer(t, a.Answer)
	relaytest.WaitFor(t, "the member's camera and voice", 20*time.Second, func() bool {
		return len(v.Frames()) >= 3 && len(v.Audio()) >= 3
	})
	// The viewer's connection asked the member for a keyframe, through the relay, the bot's
	// voice connection and the voice server (frames before it are deltas a decoder skips).
	relaytest.WaitFor(t, "the viewer's keyframe request at the voice server", 20*time.Second, func() bool {
		return h.vs.Counters().KeyframeRequests >= 1
	})
	relaytest.WaitFor(t, "a keyframe at the viewer", 20*time.Second, func() bool {
		return slices.ContainsFunc(v.Frames(), func(f []byte) bool { return f[0]&1 == 0 })
	})
	frames := v.Frames()
	for i, f := range frames {
		if !slices.ContainsFunc(clip, func(c []byte) bool { return bytes.Equal(c, f) }) {
			t.Fatalf("frame %d is not one of the camera's (%d bytes)", i, len(f))
		}
	}
	if v.StreamID("video") != testUser2 || v.StreamID("audio") != testUser2 {
		t.Errorf("streams labelled %q and %q, want the member %s", v.StreamID("video"), v.StreamID("audio"), testUser2)
	}
	st := h.ctl.Status()
	if i := slices.IndexFunc(st.Table.Media, func(m relay.MemberMedia) bool { return m.UserID == testUser2 }); i < 0 || st.Table.Media[i].VideoFrames == 0 {
		t.Errorf("status media %+v", st.Table.Media)
	}

	// One voice bot, one room.
	_, err = e.client.Watch(ctx, WatchRequest{RoomID: testRoom2, MemberID: testUser2, ViewerID: testUser1, Offer: v.Offer})
	wantCode(t, err, CodeNoFreeVoiceBot)
	// Sessions end only by their viewer.
	wantCode(t, e.client.Unwatch(ctx, UnwatchRequest{SessionID: a.SessionID, ViewerID: testUser2}), CodeNotYours)
	wantCode(t, e.client.Unwatch(ctx, UnwatchRequest{SessionID: "nope", ViewerID: testUser1}), CodeNoSession)
	if err := e.client.Unwatch(ctx, UnwatchRequest{SessionID: a.SessionID, ViewerID: testUser1}); err != nil {
		t.Fatal(err)
	}
	st = h.waitStatus("the idle bot to leave", 20*time.Second, func(st Status) bool { return st.State == StateIdle })
	if st.LastEnd == nil || st.LastEnd.Reason != EndIdle {
		t.Fatalf("the call ended %+v", st.LastEnd)
	}
	// The leave's op 4 follows the call's end.
	relaytest.WaitFor(t, "op 4 leaving voice", 10*time.Second, func() bool { return len(h.discord.opsSent()) == 2 })
	if ops := h.discord.opsSent(); ops[1] != "" {
		t.Errorf("op 4 sent %q: want a join and a leave", ops)
	}
}

// TestTableViewRefuses: bad requests change nothing; a bot joined by hand stays when its
// viewers go; its call's end ends their sessions.
func TestTableViewRefuses(t *testing.T) {
	e := newEndpointWith(t, tableOptions(200*time.Millisecond), webhook.SchemeCoven, testSecret, nil)
	h := e.harness
	ctx := context.Background()
	v := relaytest.NewViewer(t, relaytest.Video)
	for _, c := range []struct {
		req  WatchRequest
		code string
	}{
		{WatchRequest{RoomID: "x", MemberID: testUser2, ViewerID: testUser1, Offer: v.Offer}, CodeBadRequest},
		{WatchRequest{RoomID: testRoom, MemberID: testUser2, ViewerID: testUser1}, CodeBadRequest},
		{WatchRequest{RoomID: "1200000000000000099", MemberID: testUser2, ViewerID: testUser1, Offer: v.Offer}, CodeNotARoom},
		{WatchRequest{RoomID: testRoom3, MemberID: testUser2, ViewerID: testUser1, Offer: v.Offer}, CodeTableViewOff},
	} {
		_, err := e.client.Watch(ctx, c.req)
		wantCode(t, err, c.code)
	}
	_, err := e.client.Watch(ctx, WatchRequest{RoomID: testRoom, MemberID: testUser2, ViewerID: testUser1, Offer: "v=0\r\nnot sdp"})
	wantCode(t, err, CodeBadOffer)
	if st := h.ctl.Status(); st.State != StateIdle || len(h.discord.opsSent()) != 0 {
		t.Fatalf("refused requests joined: %+v, ops %q", st, h.discord.opsSent())
	}
	h.join()
	noVideo := strings.NewReplacer("VP8/90000", "VP9/90000", "H264/90000", "AV1/90000").Replace(v.Offer)
	_, err = e.client.Watch(ctx, WatchRequest{RoomID: testRoom, MemberID: testUser2, ViewerID: testUser1, Offer: noVideo})
	wantCode(t, err, CodeNothingToReceive)
	huge := WatchRequest{RoomID: testRoom, MemberID: testUser2, ViewerID: testUser1, Offer: v.Offer + strings.Repeat("a=x\r\n", relay.DefaultMaxOfferBytes/5)}
	_, err = e.client.Watch(ctx, huge)
	wantCode(t, err, CodeTooLarge)

	a, err := e.client.Watch(ctx, WatchRequest{RoomID: testRoom, MemberID: testUser2, ViewerID: testUser1, Offer: v.Offer})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.client.Unwatch(ctx, UnwatchRequest{SessionID: a.SessionID, ViewerID: testUser1}); err != nil {
		t.Fatal(err)
	}
	if st := h.ctl.Status(); st.State != StateConnected || st.Table.Sessions != 0 || !st.Table.IdleLeaveAt.IsZero() {
		t.Fatalf("a bot joined by hand is to stay: %+v", st)
	}
	a, err = e.client.Watch(ctx, WatchRequest{RoomID: testRoom, MemberID: testUser2, ViewerID: testUser1, Offer: relaytest.NewViewer(t, relaytest.Video).Offer})
	if err != nil {
		t.Fatal(err)
	}
	s := h.ctl.Relay().Session(a.SessionID)
	if _, err := h.ctl.Leave(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("the call ended and its viewer's session did not")
	}
}

// TestTableViewTurnedOff: turning a room's table view off ends its viewers' sessions, and the
// bot joined for them leaves.
func TestTableViewTurnedOff(t *testing.T) {
	e := newEndpointWith(t, tableOptions(time.Minute), webhook.SchemeCoven, testSecret, nil)
	h := e.harness
	v := relaytest.NewViewer(t, relaytest.Video)
	a, err := e.client.Watch(context.Background(), WatchRequest{RoomID: testRoom, MemberID: testUser2, ViewerID: testUser1, Offer: v.Offer})
	if err != nil {
		t.Fatal(err)
	}
	s := h.ctl.Relay().Session(a.SessionID)
	h.discord.mu.Lock()
	r := h.discord.rooms[testRoom]
	r.TableView = false
	h.discord.rooms[testRoom] = r
	h.discord.mu.Unlock()
	h.discord.dispatch(&discordgo.ChannelUpdate{Channel: &discordgo.Channel{ID: testRoom}})
	select {
	case <-s.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("the session outlived table view")
	}
	st := h.waitStatus("the bot to leave", 10*time.Second, func(st Status) bool { return st.State == StateIdle })
	if st.LastEnd == nil || st.LastEnd.Reason != EndTableOff {
		t.Fatalf("the call ended %+v", st.LastEnd)
	}
}
