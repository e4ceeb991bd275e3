package stack

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/internal/edgetest"
	"github.com/spellcoven/gateway/relay/relaytest"
	"github.com/spellcoven/gateway/roomowner"
)

// TestBoardCameraOverWHIP: a member of a room publishes a board camera with WHIP through the
// edge, and another member plays it with WHEP, while the bot is in no call; who may not
// publish or watch is refused before any SDP is read; the publisher alone ends it, and its
// viewer's session with it.
func TestBoardCameraOverWHIP(t *testing.T) {
	args := append(slices.Clone(tableArgs), "-table-max-publishers-per-room", "1")
	s := newVoiceStack(t, voiceOptions{workerArgs: args, edgeSite: tableSite})
	room := s.voiceRoom("Board table")
	people := s.users(3)
	alice, bob, carol := people[0], people[1], people[2]
	for _, u := range []discordtest.User{alice, bob} {
		s.afterEvent("voice.joined", func() {
			if err := s.emu.JoinVoice(s.guild.ID, room.ID, u.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
	token := func(u discordtest.User) string {
		tok, err := s.idp.MintFor(u.Username, edgetest.Audience, time.Hour, map[string]any{"discord_id": u.ID})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	whip := "/api/table/" + room.ID + "/board"
	whep := "/api/table/" + room.ID + "/" + alice.ID + "/board"
	if resp, body := s.whep("POST", whip, token(alice), "application/sdp", "v=0"); resp.StatusCode != 403 || errorCode(body) != "table_view_off" {
		t.Fatalf("table view off: %d %s", resp.StatusCode, body)
	}
	s.afterEvent("room.updated", func() {
		err := s.emu.SetChannelOverwrite(room.ID, discordtest.PermissionOverwrite{
			ID: s.emu.Bot().ID, Type: discordtest.OverwriteTypeMember, Allow: discordtest.Permissions(roomowner.TablePermissions)})
		if err != nil {
			t.Fatal(err)
		}
	})
	relaytest.WaitFor(t, "the edge to see table view on", 10*time.Second, func() bool {
		_, body := s.whep("POST", whip, token(alice), "application/sdp", "v=0")
		return errorCode(body) != "table_view_off"
	})

	// Refusals, before the offer is read, and of bad offers.
	expired, _ := s.idp.MintFor(alice.Username, edgetest.Audience, -time.Minute, map[string]any{"discord_id": alice.ID})
	noID, _ := s.idp.MintFor(alice.Username, edgetest.Audience, time.Hour, nil)
	noVideo := relaytest.NewViewer(t, relaytest.Video, relaytest.Audio).Offer
	noVP8 := strings.ReplaceAll(relaytest.NewPublisher(t, false).Offer, "VP8/90000", "H264/90000")
	for _, c := range []struct {
		method, path, token, ctype, body string
		status                           int
		code                             string
	}{
		{"POST", whip, "", "application/sdp", "v=0", 401, ""},
		{"POST", whip, expired, "application/sdp", "v=0", 401, ""},
		{"POST", whip, noID, "application/sdp", "v=0", 403, "no_discord_id"},
		{"POST", whip, token(carol), "application/sdp", "not even sdp", 403, "not_a_member"},
		{"POST", "/api/table/1200000000000000999/board", token(alice), "application/sdp", "v=0", 404, "unknown_room"},
		{"POST", whip, token(alice), "text/plain", "v=0", 415, "unsupported_media_type"},
		{"POST", whip, token(alice), "application/sdp", "v=0\r\nnonsense", 400, "bad_offer"},
		{"POST", whip, token(alice), "application/sdp", noVideo, 400, "no_video"},
		{"POST", whip, token(alice), "application/sdp", noVP8, 400, "no_vp8"},
		{"GET", whip, token(alice), "", "", 405, "method_not_allowed"},
		{"POST", whep, token(bob), "application/sdp", relaytest.NewViewer(t, relaytest.Video).Offer, 404, "no_source"},
		{"POST", whep, token(carol), "application/sdp", "v=0", 403, "not_a_member"},
		{"POST", "/api/table/" + room.ID + "/" + carol.ID + "/board", token(bob), "application/sdp", "v=0", 404, "not_in_room"},
		{"GET", "/api/table/" + room.ID, token(carol), "", "", 403, "not_a_member"},
	} {
		resp, body := s.whep(c.method, c.path, c.token, c.ctype, c.body)
		if resp.StatusCode != c.status || (c.code != "" && errorCode(body) != c.code) {
			t.Fatalf("%s %s: %d %s, want %d %s", c.method, c.path, resp.StatusCode, body, c.status, c.code)
		}
	}
	if st, _ := s.client.Status(t.Context()); st.Table == nil || len(st.Table.Sources) != 0 || st.Table.Total != 0 {
		t.Fatalf("refusals left sessions or sources: %+v", st.Table)
	}

	// Alice publishes her board camera; Bob plays it.
	pub := relaytest.NewPublisher(t, false)
	resp, answer := s.whep("POST", whip, token(alice), "application/sdp", pub.Offer)
	if resp.StatusCode != 201 || resp.Header.Get("Content-Type") != "application/sdp" {
		t.Fatalf("WHIP POST: %d %s", resp.StatusCode, answer)
	}
	pubLocation := resp.Header.Get("Location")
	if !strings.HasPrefix(pubLocation, whip+"/") {
		t.Fatalf("Location %q", pubLocation)
	}
	pub.Answer(t, answer)
	if resp, body := s.whep("POST", whip, token(bob), "application/sdp", relaytest.NewPublisher(t, false).Offer); resp.StatusCode != 429 || errorCode(body) != "too_many_publishers" {
		t.Fatalf("a second publisher in a room of one: %d %s", resp.StatusCode, body)
	}
	resp, body := s.whep("GET", "/api/table/"+room.ID, token(bob), "", "")
	var listed struct {
		Sources []struct {
			UserID string `json:"user_id"`
			Kind   string `json:"kind"`
		} `json:"sources"`
	}
	if err := json.Unmarshal([]byte(body), &listed); err != nil || resp.StatusCode != 200 || len(listed.Sources) != 1 ||
		listed.Sources[0].UserID != alice.ID || listed.Sources[0].Kind != "board" {
		t.Fatalf("sources: %d %s", resp.StatusCode, body)
	}
	v := relaytest.NewViewer(t, relaytest.Video)
	resp, answer = s.whep("POST", whep, token(bob), "application/sdp", v.Offer)
	if resp.StatusCode != 201 {
		t.Fatalf("WHEP POST of the board: %d %s", resp.StatusCode, answer)
	}
	viewLocation := resp.Header.Get("Location")
	if !strings.HasPrefix(viewLocation, whep+"/") {
		t.Fatalf("Location %q", viewLocation)
	}
	v.Answer(t, answer)
	frame := bytes.Repeat([]byte{9}, 2500)
	frame[0] = 0x10
	deadline := time.Now().Add(30 * time.Second)
	for len(v.Frames()) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("Alice's board did not reach Bob")
		}
		_ = pub.WriteFrame(frame)
		time.Sleep(10 * time.Millisecond)
	}
	if v.StreamID("video") != alice.ID+"-board" {
		t.Errorf("stream id %q", v.StreamID("video"))
	}
	relaytest.WaitFor(t, "Bob's keyframe request at Alice's publisher", 10*time.Second, func() bool { return pub.PLIs() >= 1 })
	if st, _ := s.client.Status(t.Context()); st.State != "idle" {
		t.Errorf("the board brought the bot in: %s", st.State)
	}

	// The session's URL: no trickle; only the publisher ends it; its viewer's session ends too.
	if resp, body = s.whep("PATCH", pubLocation, token(alice), "application/trickle-ice-sdpfrag", "a=end-of-candidates"); resp.StatusCode != 405 || resp.Header.Get("Allow") != "DELETE" {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	if resp, body = s.whep("DELETE", pubLocation, token(bob), "", ""); resp.StatusCode != 403 || errorCode(body) != "not_yours" {
		t.Fatalf("DELETE by another: %d %s", resp.StatusCode, body)
	}
	if resp, body = s.whep("DELETE", pubLocation, token(alice), "", ""); resp.StatusCode != 200 {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	relaytest.WaitFor(t, "Bob's session of the board to end", 10*time.Second, func() bool {
		st, _ := s.client.Status(t.Context())
		return st.Table != nil && st.Table.Total == 0 && len(st.Table.Sources) == 0
	})
	if resp, body = s.whep("DELETE", viewLocation, token(bob), "", ""); resp.StatusCode != 404 || errorCode(body) != "no_session" {
		t.Fatalf("DELETE of the ended viewing session: %d %s", resp.StatusCode, body)
	}
}
