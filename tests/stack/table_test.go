package stack

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/internal/edgetest"
	"github.com/spellcoven/gateway/relay/relaytest"
	"github.com/spellcoven/gateway/roomowner"
	"github.com/spellcoven/gateway/worker/voicectl"
)

// tableSite serves table view's WHEP endpoints on the edge, relayed by the stack's worker.
const tableSite = `route /api/table/* {
		coven_jwt
		coven_media {
			worker {{worker}}
			secret {env.COVEN_WEBHOOK_SECRET}
		}
	}`

// tableArgs turn table view on in the worker, on loopback.
var tableArgs = []string{"-table-listen", "127.0.0.1", "-table-udp-port", "0", "-table-tcp-port", "-1", "-table-idle-timeout", "2s"}

// whep sends one request to the edge's table view as the holder of token.
func (s *voiceStack) whep(method, path, token, contentType, body string) (*http.Response, string) {
	s.t.Helper()
	resp, b, err := s.tryWHEP(method, path, token, contentType, body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp, b
}

// tryWHEP is whep returning its error, for requests sent from other goroutines.
func (s *voiceStack) tryWHEP(method, path, token, contentType, body string) (*http.Response, string, error) {
	req, err := http.NewRequest(method, s.edge.URL(path), strings.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

// errorCode is the code of a JSON error answer.
func errorCode(body string) string {
	var eb struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &eb)
	return eb.Error.Code
}

// TestTableViewOverWHEP: a member of a room plays another member's camera and voice through the
// edge's WHEP endpoint, as a browser's WHEP player does; who may not watch is refused before
// any SDP is read; the session ends on DELETE by its viewer only.
func TestTableViewOverWHEP(t *testing.T) {
	s := newVoiceStack(t, voiceOptions{workerArgs: tableArgs, edgeSite: tableSite})
	room := s.voiceRoom("Table five")
	people := s.users(3)
	alice, bob, carol := people[0], people[1], people[2]
	for _, u := range []discordtest.User{alice, bob} {
		s.afterEvent("voice.joined", func() {
			if err := s.emu.JoinVoice(s.guild.ID, room.ID, u.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
	s.streamCamera(t, room.ID, bob.ID)
	token := func(u discordtest.User) string {
		tok, err := s.idp.MintFor(u.Username, edgetest.Audience, time.Hour, map[string]any{"discord_id": u.ID})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	endpoint := "/api/table/" + room.ID + "/" + bob.ID

	// Table view is off until the room's owner turns it on.
	if resp, body := s.whep("POST", endpoint, token(alice), "application/sdp", "v=0"); resp.StatusCode != 403 || errorCode(body) != "table_view_off" {
		t.Fatalf("table view off: %d %s", resp.StatusCode, body)
	}
	s.afterEvent("room.updated", func() {
		err := s.emu.SetChannelOverwrite(room.ID, discordtest.PermissionOverwrite{
			ID: s.emu.Bot().ID, Type: discordtest.OverwriteTypeMember, Allow: discordtest.Permissions(roomowner.TablePermissions)})
		if err != nil {
			t.Fatal(err)
		}
	})
	// The edge takes the worker's room.updated a moment after the worker produced it.
	relaytest.WaitFor(t, "the edge to see table view on", 10*time.Second, func() bool {
		_, body := s.whep("POST", endpoint, token(alice), "application/sdp", "v=0")
		return errorCode(body) != "table_view_off"
	})

	// Refusals, none of which reads the offer.
	resp, body := s.whep("POST", endpoint, "", "application/sdp", "v=0")
	if resp.StatusCode != 401 {
		t.Fatalf("no token: %d %s", resp.StatusCode, body)
	}
	expired, _ := s.idp.MintFor(alice.Username, edgetest.Audience, -time.Minute, map[string]any{"discord_id": alice.ID})
	if resp, body = s.whep("POST", endpoint, expired, "application/sdp", "v=0"); resp.StatusCode != 401 {
		t.Fatalf("expired token: %d %s", resp.StatusCode, body)
	}
	if resp, body = s.whep("POST", endpoint, token(carol), "application/sdp", "not even sdp"); resp.StatusCode != 403 || errorCode(body) != "not_a_member" {
		t.Fatalf("an outsider: %d %s", resp.StatusCode, body)
	}
	if resp, body = s.whep("POST", "/api/table/"+room.ID+"/"+carol.ID, token(alice), "application/sdp", "v=0"); resp.StatusCode != 404 || errorCode(body) != "not_in_room" {
		t.Fatalf("watching someone not in the room: %d %s", resp.StatusCode, body)
	}
	if resp, body = s.whep("POST", "/api/table/1200000000000000999/"+bob.ID, token(alice), "application/sdp", "v=0"); resp.StatusCode != 404 || errorCode(body) != "unknown_room" {
		t.Fatalf("an unknown room: %d %s", resp.StatusCode, body)
	}
	if resp, body = s.whep("POST", endpoint, token(alice), "text/plain", "v=0"); resp.StatusCode != 415 {
		t.Fatalf("not application/sdp: %d %s", resp.StatusCode, body)
	}
	if resp, body = s.whep("POST", endpoint, token(alice), "application/sdp", "v=0\r\nnonsense"); resp.StatusCode != 400 || errorCode(body) != "bad_offer" {
		t.Fatalf("a malformed offer: %d %s", resp.StatusCode, body)
	}
	if st, _ := s.client.Status(t.Context()); st.Table == nil || st.Table.Total != 0 {
		t.Fatalf("refusals left sessions: %+v", st.Table)
	}

	// Alice watches Bob.
	v := relaytest.NewViewer(t, relaytest.Video, relaytest.Audio)
	resp, answer := s.whep("POST", endpoint, token(alice), "application/sdp", v.Offer)
	if resp.StatusCode != 201 || resp.Header.Get("Content-Type") != "application/sdp" {
		t.Fatalf("WHEP POST: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), answer)
	}
	location := resp.Header.Get("Location")
	if !strings.HasPrefix(location, endpoint+"/") {
		t.Fatalf("Location %q", location)
	}
	v.Answer(t, answer)
	relaytest.WaitFor(t, "Bob's camera and voice at Alice's player", 30*time.Second, func() bool {
		return len(v.Frames()) >= 3 && len(v.Audio()) >= 3
	})
	if v.StreamID("video") != bob.ID || v.StreamID("audio") != bob.ID {
		t.Errorf("tracks labelled %q, %q; want Bob's id %s", v.StreamID("video"), v.StreamID("audio"), bob.ID)
	}
	// Frames before the keyframe her connection asked for are deltas her decoder skips.
	relaytest.WaitFor(t, "a keyframe at Alice's player", 20*time.Second, func() bool {
		return slices.ContainsFunc(v.Frames(), func(f []byte) bool { return f[0]&1 == 0 })
	})

	// The session's URL: no trickle, and only its viewer ends it.
	if resp, body = s.whep("PATCH", location, token(alice), "application/trickle-ice-sdpfrag", "a=end-of-candidates"); resp.StatusCode != 405 || resp.Header.Get("Allow") != "DELETE" {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	if resp, body = s.whep("DELETE", location, token(carol), "", ""); resp.StatusCode != 403 || errorCode(body) != "not_yours" {
		t.Fatalf("DELETE by another: %d %s", resp.StatusCode, body)
	}
	if resp, body = s.whep("DELETE", location, token(alice), "", ""); resp.StatusCode != 200 {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	if resp, body = s.whep("DELETE", location, token(alice), "", ""); resp.StatusCode != 404 || errorCode(body) != "no_session" {
		t.Fatalf("DELETE again: %d %s", resp.StatusCode, body)
	}
	s.waitStatus("the bot to leave the room no one watches", 30*time.Second, func(st voicectl.Status) bool {
		return st.State == "idle" && st.LastEnd != nil && st.LastEnd.Reason == "idle"
	})
}

// streamCamera joins userID to the voice room roomID as a Discord client that sends the clip as its
// camera and tone B as its voice until the test ends.
func (s *voiceStack) streamCamera(t *testing.T, roomID, userID string) {
	t.Helper()
	camera, err := s.vs.JoinUser(s.guild.ID, roomID, userID)
	if err != nil {
		t.Fatal(err)
	}
	if err := camera.StartCamera(readIVFFile(t, mediaDir+"/clip.ivf"), 33*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := camera.StartMic(readOpusFile(t, mediaDir+"/tone-b.opus")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { camera.StopCamera(); camera.StopMic() })
}
