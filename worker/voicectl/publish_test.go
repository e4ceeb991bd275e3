package voicectl

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/spellcoven/gateway/relay"
	"github.com/spellcoven/gateway/relay/relaytest"
	"github.com/spellcoven/gateway/webhook"
)

// publishBoard publishes testUser2's board through the control endpoint and connects it.
func publishBoard(t *testing.T, e *endpoint) (PublishAnswer, *relaytest.Publisher) {
	t.Helper()
	pub := relaytest.NewPublisher(t, false)
	a, err := e.client.Publish(context.Background(), PublishRequest{RoomID: testRoom, MemberID: testUser2, Kind: relay.SourceBoard, Offer: pub.Offer})
	if err != nil {
		t.Fatal(err)
	}
	pub.Answer(t, a.Answer)
	return a, pub
}

// TestPublishedBoardWithoutTheBot: a board camera published through the control endpoint
// reaches a viewer of the room while the bot is in no call; the room lists it; only its
// publisher ends it, and its viewer's session with it.
func TestPublishedBoardWithoutTheBot(t *testing.T) {
	e := newEndpointWith(t, tableOptions(time.Minute), webhook.SchemeCoven, testSecret, nil)
	h := e.harness
	ctx := context.Background()
	a, pub := publishBoard(t, e)
	src, err := e.client.Sources(ctx, SourcesRequest{RoomID: testRoom})
	if err != nil || len(src.Sources) != 1 || src.Sources[0].UserID != testUser2 || src.Sources[0].Kind != "board" {
		t.Fatalf("sources %+v, %v", src, err)
	}
	if src, err := e.client.Sources(ctx, SourcesRequest{RoomID: testRoom2}); err != nil || len(src.Sources) != 0 {
		t.Fatalf("another room's sources %+v, %v", src, err)
	}
	v := relaytest.NewViewer(t, relaytest.Video, relaytest.Audio)
	w, err := e.client.Watch(ctx, WatchRequest{RoomID: testRoom, MemberID: testUser2, ViewerID: testUser1, Source: "board", Offer: v.Offer})
	if err != nil {
		t.Fatal(err)
	}
	v.Answer(t, w.Answer)
	frame := bytes.Repeat([]byte{7}, 2000)
	frame[0] = 0x10
	deadline := time.Now().Add(20 * time.Second)
	for len(v.Frames()) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the board camera did not reach the viewer")
		}
		_ = pub.WriteFrame(frame)
		time.Sleep(10 * time.Millisecond)
	}
	relaytest.WaitFor(t, "the viewer's keyframe request at the publisher", 10*time.Second, func() bool { return pub.PLIs() >= 1 })
	st := h.ctl.Status()
	if st.State != StateIdle || len(h.discord.opsSent()) != 0 {
		t.Errorf("publishing and watching a board brought the bot in: %+v", st)
	}
	if st.Table == nil || len(st.Table.Sources) != 1 || st.Table.Sources[0].Viewers != 1 || st.Table.Sources[0].RoomID != testRoom {
		t.Errorf("status sources %+v", st.Table)
	}
	if n := metricValue(t, h.reg, "coven_worker_table_publishers", nil); n != 1 {
		t.Errorf("publishers gauge %v", n)
	}
	if n := metricValue(t, h.reg, "coven_worker_table_publishes_total", map[string]string{"result": "ok"}); n != 1 {
		t.Errorf("publishes ok %v", n)
	}
	s := h.ctl.Relay().Session(w.SessionID)
	wantCode(t, e.client.Unpublish(ctx, UnpublishRequest{SessionID: a.SessionID, MemberID: testUser1}), CodeNotYours)
	wantCode(t, e.client.Unpublish(ctx, UnpublishRequest{SessionID: "nope", MemberID: testUser2}), CodeNoSession)
	if err := e.client.Unpublish(ctx, UnpublishRequest{SessionID: a.SessionID, MemberID: testUser2}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("the viewer's session outlived the publisher")
	}
	_, err = e.client.Watch(ctx, WatchRequest{RoomID: testRoom, MemberID: testUser2, ViewerID: testUser1, Source: "board", Offer: relaytest.NewViewer(t, relaytest.Video).Offer})
	wantCode(t, err, CodeNoSource)
}

// TestPublishRefuses: bad requests and offers are refused with their codes and change nothing;
// the room limit is named and enforced.
func TestPublishRefuses(t *testing.T) {
	e := newEndpointWith(t, harnessOptions{mutate: func(c *Config) {
		c.Table = &relay.Config{ListenIP: "127.0.0.1", MaxPublishersPerRoom: 1}
	}}, webhook.SchemeCoven, testSecret, nil)
	ctx := context.Background()
	offer := relaytest.NewPublisher(t, true).Offer
	for _, c := range []struct {
		req  PublishRequest
		code string
	}{
		{PublishRequest{RoomID: "x", MemberID: testUser2, Kind: "board", Offer: offer}, CodeBadRequest},
		{PublishRequest{RoomID: testRoom, MemberID: "", Kind: "board", Offer: offer}, CodeBadRequest},
		{PublishRequest{RoomID: testRoom, MemberID: testUser2, Kind: "face", Offer: offer}, CodeBadRequest},
		{PublishRequest{RoomID: testRoom, MemberID: testUser2, Kind: "board"}, CodeBadRequest},
		{PublishRequest{RoomID: testRoom, MemberID: testUser2, Kind: "board", Offer: "v=0\r\nnonsense"}, CodeBadOffer},
		{PublishRequest{RoomID: testRoom, MemberID: testUser2, Kind: "board", Offer: relaytest.NewViewer(t, relaytest.Video).Offer}, CodeNoVideo},
		{PublishRequest{RoomID: testRoom, MemberID: testUser2, Kind: "board", Offer: strings.ReplaceAll(offer, "VP8/90000", "H264/90000")}, CodeNoVP8},
		{PublishRequest{RoomID: testRoom, MemberID: testUser2, Kind: "board", Offer: offer + strings.Repeat("a=x\r\n", relay.DefaultMaxOfferBytes/5)}, CodeTooLarge},
		{PublishRequest{RoomID: "1200000000000000099", MemberID: testUser2, Kind: "board", Offer: offer}, CodeNotARoom},
		{PublishRequest{RoomID: testRoom3, MemberID: testUser2, Kind: "board", Offer: offer}, CodeTableViewOff},
	} {
		_, err := e.client.Publish(ctx, c.req)
		wantCode(t, err, c.code)
	}
	_, err := e.client.Watch(ctx, WatchRequest{RoomID: testRoom, MemberID: testUser2, ViewerID: testUser1, Source: "face", Offer: relaytest.NewViewer(t, relaytest.Video).Offer})
	wantCode(t, err, CodeBadRequest)
	_, err = e.client.Sources(ctx, SourcesRequest{RoomID: "x"})
	wantCode(t, err, CodeBadRequest)
	if n, _ := e.harness.ctl.Relay().Publishers(""); n != 0 {
		t.Fatalf("refusals left %d publishers", n)
	}
	if _, err := e.client.Publish(ctx, PublishRequest{RoomID: testRoom, MemberID: testUser2, Kind: "board", Offer: offer}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.Publish(ctx, PublishRequest{RoomID: testRoom, MemberID: testUser1, Kind: "board", Offer: relaytest.NewPublisher(t, false).Offer})
	if e := wantCode(t, err, CodeTooManyPublishers); e.Status != 429 {
		t.Errorf("status %d", e.Status)
	}
	if n := metricValue(t, e.harness.reg, "coven_worker_table_publishes_total", map[string]string{"result": CodeNoVP8}); n != 1 {
		t.Errorf("publishes refused no_vp8: %v", n)
	}
}

// TestPublisherLeavesOrTableOff: a publisher who leaves the room's voice channel stops
// publishing; turning the room's table view off ends every publisher of it.
func TestPublisherLeavesOrTableOff(t *testing.T) {
	e := newEndpointWith(t, tableOptions(time.Minute), webhook.SchemeCoven, testSecret, nil)
	h := e.harness
	a, _ := publishBoard(t, e)
	p := h.ctl.Relay().Publisher(a.SessionID)
	// Someone else's voice state, and the publisher's in the room, change nothing.
	h.discord.dispatch(&discordgo.VoiceStateUpdate{VoiceState: &discordgo.VoiceState{GuildID: testGuild, UserID: testUser1, ChannelID: ""}})
	h.discord.dispatch(&discordgo.VoiceStateUpdate{VoiceState: &discordgo.VoiceState{GuildID: testGuild, UserID: testUser2, ChannelID: testRoom, SelfMute: true}})
	h.discord.dispatch(&discordgo.VoiceStateUpdate{VoiceState: &discordgo.VoiceState{GuildID: testGuild, UserID: testUser2, ChannelID: testRoom2}})
	select {
	case <-p.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("a publisher who left the room publishes on")
	}
	if p.Reason() != "the publisher left the room's voice channel" {
		t.Errorf("reason %q", p.Reason())
	}

	a, _ = publishBoard(t, e)
	p = h.ctl.Relay().Publisher(a.SessionID)
	h.discord.mu.Lock()
	r := h.discord.rooms[testRoom]
	r.TableView = false
	h.discord.rooms[testRoom] = r
	h.discord.mu.Unlock()
	h.discord.dispatch(&discordgo.ChannelUpdate{Channel: &discordgo.Channel{ID: testRoom}})
	select {
	case <-p.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("a publisher outlived the room's table view")
	}
	if p.Reason() != "table view turned off" {
		t.Errorf("reason %q", p.Reason())
	}
}

// TestBoardViewersDoNotHoldTheCall: the bot joined for a member's camera leaves once no one
// watches a Discord camera, though a published board is still watched; that viewer keeps it.
func TestBoardViewersDoNotHoldTheCall(t *testing.T) {
	e := newEndpointWith(t, tableOptions(300*time.Millisecond), webhook.SchemeCoven, testSecret, nil)
	h := e.harness
	ctx := context.Background()
	liveMember(t, h, testUser2)
	_, pub := publishBoard(t, e)
	board := relaytest.NewViewer(t, relaytest.Video)
	bw, err := e.client.Watch(ctx, WatchRequest{RoomID: testRoom, MemberID: testUser2, ViewerID: testUser1, Source: "board", Offer: board.Offer})
	if err != nil {
		t.Fatal(err)
	}
	board.Answer(t, bw.Answer)
	camera := relaytest.NewViewer(t, relaytest.Video, relaytest.Audio)
	cw, err := e.client.Watch(ctx, WatchRequest{RoomID: testRoom, MemberID: testUser2, ViewerID: testUser1, Offer: camera.Offer})
	if err != nil {
		t.Fatal(err)
	}
	camera.Answer(t, cw.Answer)
	frame := bytes.Repeat([]byte{7}, 2000)
	frame[0] = 0x10
	sendBoard := func(what string, done func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !done() {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
			_ = pub.WriteFrame(frame)
			time.Sleep(10 * time.Millisecond)
		}
	}
	sendBoard("the board and the camera at their viewers", func() bool { return len(board.Frames()) >= 3 && len(camera.Frames()) >= 3 })
	if err := e.client.Unwatch(ctx, UnwatchRequest{SessionID: cw.SessionID, ViewerID: testUser1}); err != nil {
		t.Fatal(err)
	}
	var st Status
	sendBoard("the bot to leave, idle", func() bool { st = h.ctl.Status(); return st.State == StateIdle })
	if st.LastEnd == nil || st.LastEnd.Reason != EndIdle {
		t.Fatalf("the call ended %+v", st.LastEnd)
	}
	n := len(board.Frames())
	sendBoard("the board still at its viewer", func() bool { return len(board.Frames()) >= n+3 })
	if s := h.ctl.Relay().Session(bw.SessionID); s == nil || s.Reason() != "" {
		t.Fatalf("the board viewer's session %+v", s)
	}
}
