package browser

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/sandbox"
)

const bobID = "1300000000000000002"

// fakeCamera makes Chromium's getUserMedia answer at once with its built-in test pattern.
var fakeCamera = []chromedp.ExecAllocatorOption{
	chromedp.Flag("use-fake-device-for-media-stream", true),
	chromedp.Flag("use-fake-ui-for-media-stream", true),
}

// signInAndWatch signs the page in as user and opens the Lobby's table.
func signInAndWatch(t *testing.T, p *page, user, lobby string) {
	t.Helper()
	p.do("loading the page", 30*time.Second, chromedp.Navigate(stack.URL()+"/"), chromedp.WaitVisible(byTestID("sign-in")))
	p.waitJS("the demo users", `!document.querySelector('[data-testid="sign-in"]').disabled`, 10*time.Second)
	p.selectOption("user-select", user)
	p.do("signing in as "+user, 10*time.Second, chromedp.Click(byTestID("sign-in"), chromedp.NodeVisible))
	p.waitJS("the Lobby's table view on", `!!document.querySelector('[data-room-id="`+lobby+`"] [data-testid="watch-room"]')`, 20*time.Second)
	p.do("watching the Lobby's table", 10*time.Second, chromedp.Click(`[data-room-id="`+lobby+`"] [data-testid="watch-room"]`, chromedp.NodeVisible))
}

// TestBoardCameraInChromium: Bob shares his (fake) camera as his board camera from the demo
// page, with WHIP; Alice's demo page plays it beside two emulated members' Discord cameras, and
// whip-whep's WHEP player plays it too, each decoding it at the camera's size and labelled with
// Bob's id; an outsider is refused; Bob's stopping it, and Bob's leaving the room, remove it.
func TestBoardCameraInChromium(t *testing.T) {
	whepSrc, err := os.ReadFile("whep/node_modules/whip-whep/whep.js")
	if err != nil {
		t.Fatalf("%v (run: cd tests/browser/whep && npm ci)", err)
	}
	resetGuild(t)
	t.Cleanup(func() { resetGuild(t) })
	lobby := lobbyID(t)
	emu := stack.Emulator()
	for _, id := range []string{aliceID, bobID, danaID, eliID} {
		must(t, emu.JoinVoice(sandbox.GuildID, lobby, id))
	}
	for _, id := range []string{danaID, eliID} {
		must(t, emu.SetVoiceFlags(sandbox.GuildID, id, discordtest.VoiceFlags{SelfVideo: ptr(true)}))
	}
	admin, err := stack.Issuer().MintFor("alice", sandbox.Audience, 10*time.Minute, map[string]any{"discord_id": aliceID, "admin": true})
	must(t, err)
	tableOn(t, lobby, admin)

	bob := openPage(t, fakeCamera...)
	signInAndWatch(t, bob, "bob", lobby)
	bob.do("sharing the board camera", 10*time.Second, chromedp.Click(byTestID("board-share"), chromedp.NodeVisible))
	bob.waitJS("Bob's board camera publisher", `!!window.covenDebug.board`, 10*time.Second)
	var ok bool
	bob.eval(`(window.covenDebug.board.addEventListener('state', (e) => (window.boardStates ??= []).push(e.detail)), true)`, &ok)
	t.Cleanup(func() {
		if t.Failed() {
			var states any
			bob.eval(`window.boardStates ?? null`, &states)
			t.Logf("Bob's publishing states: %v", states)
		}
	})
	bob.waitJS("Bob's board camera live", `window.covenDebug.board?.state === 'live'`, 30*time.Second)
	var camera struct{ Width, Height int }
	bob.eval(`(() => { const s = window.covenDebug.board.stream.getVideoTracks()[0].getSettings(); return {width: s.width, height: s.height}; })()`, &camera)
	if camera.Width == 0 || camera.Height == 0 {
		t.Fatalf("the fake camera's size %+v", camera)
	}
	var status string
	bob.eval(`document.querySelector('[data-testid="board-status"]').textContent`, &status)
	if status != "Your board camera is shared with the table." {
		t.Errorf("Bob's page says %q", status)
	}

	alice := openPage(t)
	signInAndWatch(t, alice, "alice", lobby)
	alice.eval(`(window.covenDebug.table.addEventListener('member', (e) => e.detail.kind === 'board' && (window.boardEvents ??= []).push(e.detail)), true)`, &ok)
	t.Cleanup(func() {
		if t.Failed() {
			var events any
			alice.eval(`window.boardEvents ?? null`, &events)
			t.Logf("Alice's board events: %v", events)
		}
	})
	for _, id := range []string{danaID, eliID} {
		alice.waitUntil("the Discord camera of "+id, 45*time.Second, func() error {
			if v := alice.tile(id); v == nil || v.State != "live" || v.Frames < 10 || v.Width != 320 || v.StreamID != id {
				return fmt.Errorf("tile %+v", v)
			}
			return nil
		})
	}
	boardTile := func() *tileView {
		var v *tileView
		alice.evalAwait(tileJS+`('`+bobID+`', 'board')`, &v)
		return v
	}
	var first *tileView
	alice.waitUntil("Bob's board camera decoding at its size", 45*time.Second, func() error {
		first = boardTile()
		if first == nil || first.State != "live" || first.Frames < 10 || first.Width != camera.Width || first.Height != camera.Height {
			return fmt.Errorf("board tile %+v, camera %+v", first, camera)
		}
		return nil
	})
	if first.StreamID != bobID+"-board" || first.Name != "Bob: board" {
		t.Errorf("the board tile is labelled %q, stream %q", first.Name, first.StreamID)
	}
	// Still decoding: 20 more frames. A loaded machine may make a page set its session up anew
	// (the publisher's or the viewer's connection seen disconnected): the count then starts over,
	// and the 20 frames are counted from there.
	base := first.Frames
	alice.waitUntil("Bob's board still decoding", 30*time.Second, func() error {
		v := boardTile()
		if v != nil && v.Frames < base {
			base = v.Frames
		}
		if v == nil || v.Frames < base+20 {
			return fmt.Errorf("frames from %d (first %d) then %+v", base, first.Frames, v)
		}
		return nil
	})
	if v := alice.tile(bobID); v == nil || v.Camera != "off" {
		t.Errorf("Bob's Discord tile (camera off) %+v", v)
	}

	// An independent WHEP player, whip-whep from npm, plays the board camera.
	whep := openPage(t)
	whep.do("loading the page", 30*time.Second, chromedp.Navigate(stack.URL()+"/"), chromedp.WaitVisible(byTestID("sign-in")))
	startWHEPPlayer(whep, whepSrc, stack.URL()+"/api/table/"+lobby+"/"+bobID+"/board", admin)
	var whepFrames int
	whep.waitUntil("Bob's board camera decoding in whip-whep's player", 45*time.Second, func() error {
		v := whepVideo(whep)
		if v.Frames < 10 || v.Width != camera.Width || v.Height != camera.Height || v.Stream != bobID+"-board" {
			return fmt.Errorf("%+v", v)
		}
		if whepFrames == 0 {
			whepFrames = v.Frames
			return fmt.Errorf("first count %d", v.Frames)
		}
		if v.Frames < whepFrames+10 {
			return fmt.Errorf("frames %d then %d", whepFrames, v.Frames)
		}
		return nil
	})

	// Carol is not in the Lobby: she may neither publish nor watch nor list.
	carol, err := stack.Issuer().MintFor("carol", sandbox.Audience, time.Minute, map[string]any{"discord_id": carolID})
	must(t, err)
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/table/" + lobby + "/board"},
		{"POST", "/api/table/" + lobby + "/" + bobID + "/board"},
		{"GET", "/api/table/" + lobby},
	} {
		req, _ := http.NewRequest(c.method, stack.URL()+c.path, strings.NewReader("not sdp"))
		req.Header.Set("Authorization", "Bearer "+carol)
		req.Header.Set("Content-Type", "application/sdp")
		resp, err := stack.Client().Do(req)
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(string(body), "not_a_member") {
			t.Fatalf("an outsider's %s %s: %d %s", c.method, c.path, resp.StatusCode, body)
		}
	}

	// Bob stops sharing: the tile goes, and the player's session ends.
	bob.do("stopping the board camera", 10*time.Second, chromedp.Click(byTestID("board-share"), chromedp.NodeVisible))
	alice.waitUntil("Bob's board tile gone", 20*time.Second, func() error {
		if v := boardTile(); v != nil {
			return fmt.Errorf("board tile %+v", v)
		}
		return nil
	})
	whep.waitJS("whip-whep's connection ended", `['failed', 'closed', 'disconnected'].includes(window.whepPC.connectionState)`, 30*time.Second)

	// Shared again, then Bob leaves the room: the worker ends his board camera, the tile goes,
	// and his page is refused when it asks again.
	bob.do("sharing the board camera again", 10*time.Second, chromedp.Click(byTestID("board-share"), chromedp.NodeVisible))
	alice.waitUntil("Bob's board back", 45*time.Second, func() error {
		if v := boardTile(); v == nil || v.State != "live" || v.Frames < 10 {
			return fmt.Errorf("board tile %+v", v)
		}
		return nil
	})
	must(t, emu.LeaveVoice(sandbox.GuildID, bobID))
	alice.waitUntil("Bob's board tile gone after he left", 20*time.Second, func() error {
		if v := boardTile(); v != nil {
			return fmt.Errorf("board tile %+v", v)
		}
		return nil
	})
	bob.waitJS("Bob's page refused once he left", `window.covenDebug.board?.state === 'refused'`, 60*time.Second)
	t.Logf("screenshot: %s", alice.screenshot("board.png"))
	for _, p := range []*page{alice, bob} {
		for _, m := range p.consoleMessages() {
			if m.IsException() {
				t.Errorf("uncaught exception in the page: %s", m)
			}
		}
	}
}

// TestIndependentWHIPPublisher: whip-whep's WHIP client from npm, unchanged, publishes Chromium's
// fake camera as Bob's board camera; whip-whep's WHEP player decodes it at the camera's size, the
// room lists it, and the WHIP client's stop (its DELETE) removes it.
func TestIndependentWHIPPublisher(t *testing.T) {
	whipSrc, err := os.ReadFile("whep/node_modules/whip-whep/whip.js")
	if err != nil {
		t.Fatalf("%v (run: cd tests/browser/whep && npm ci)", err)
	}
	whepSrc, err := os.ReadFile("whep/node_modules/whip-whep/whep.js")
	must(t, err)
	resetGuild(t)
	t.Cleanup(func() { resetGuild(t) })
	lobby := lobbyID(t)
	emu := stack.Emulator()
	for _, id := range []string{aliceID, bobID} {
		must(t, emu.JoinVoice(sandbox.GuildID, lobby, id))
	}
	admin, err := stack.Issuer().MintFor("alice", sandbox.Audience, 10*time.Minute, map[string]any{"discord_id": aliceID, "admin": true})
	must(t, err)
	tableOn(t, lobby, admin)
	bobToken, err := stack.Issuer().MintFor("bob", sandbox.Audience, 10*time.Minute, map[string]any{"discord_id": bobID})
	must(t, err)

	pub := openPage(t, fakeCamera...)
	pub.do("loading the page", 30*time.Second, chromedp.Navigate(stack.URL()+"/"), chromedp.WaitVisible(byTestID("sign-in")))
	var camera struct{ Width, Height int }
	pub.evalAwait(fmt.Sprintf(`(async () => {
		const url = URL.createObjectURL(new Blob([%q], {type: 'text/javascript'}));
		const { WHIPClient } = await import(url);
		const stream = await navigator.mediaDevices.getUserMedia({video: true});
		const track = stream.getVideoTracks()[0];
		const pc = new RTCPeerConnection();
		pc.addTransceiver(track, {direction: 'sendonly'});
		window.whipPC = pc;
		window.whip = new WHIPClient();
		await window.whip.publish(pc, %q, %q);
		const s = track.getSettings();
		return {width: s.width, height: s.height};
	})()`, string(whipSrc), stack.URL()+"/api/table/"+lobby+"/board", bobToken), &camera)
	if camera.Width == 0 || camera.Height == 0 {
		t.Fatalf("the fake camera's size %+v", camera)
	}
	pub.waitJS("whip-whep's publishing connection", `window.whipPC.connectionState === 'connected'`, 30*time.Second)

	sources := func() []string {
		req, _ := http.NewRequest("GET", stack.URL()+"/api/table/"+lobby, nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := stack.Client().Do(req)
		must(t, err)
		defer resp.Body.Close()
		var a struct {
			Sources []struct {
				UserID string `json:"user_id"`
				Kind   string `json:"kind"`
			} `json:"sources"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != 200 {
			t.Fatalf("the room's sources: %d %v", resp.StatusCode, err)
		}
		var out []string
		for _, s := range a.Sources {
			out = append(out, s.UserID+"/"+s.Kind)
		}
		return out
	}
	if got := sources(); len(got) != 1 || got[0] != bobID+"/board" {
		t.Fatalf("the room's sources while Bob publishes: %v", got)
	}

	view := openPage(t)
	view.do("loading the page", 30*time.Second, chromedp.Navigate(stack.URL()+"/"), chromedp.WaitVisible(byTestID("sign-in")))
	startWHEPPlayer(view, whepSrc, stack.URL()+"/api/table/"+lobby+"/"+bobID+"/board", admin)
	view.waitUntil("the published camera decoding in whip-whep's player", 45*time.Second, func() error {
		v := whepVideo(view)
		if v.Frames < 10 || v.Width != camera.Width || v.Height != camera.Height || v.Stream != bobID+"-board" {
			return fmt.Errorf("%+v, camera %+v", v, camera)
		}
		return nil
	})

	// whip-whep's stop sends the WHIP DELETE: the source is gone and its viewer's session ends.
	var stopped bool
	pub.evalAwait(`(async () => { await window.whip.stop(); return true; })()`, &stopped)
	view.waitJS("the player's connection ended with the source", `['failed', 'closed', 'disconnected'].includes(window.whepPC.connectionState)`, 30*time.Second)
	if got := sources(); len(got) != 0 {
		t.Fatalf("the room's sources after whip-whep's stop: %v", got)
	}
	for _, p := range []*page{pub, view} {
		for _, m := range p.consoleMessages() {
			if m.IsException() {
				t.Errorf("uncaught exception in the page: %s", m)
			}
		}
	}
}

// startWHEPPlayer loads whip-whep's WHEP client (src, its whep.js) into p and plays the video of
// url with token; window.whepPC is its connection, window.whepStream the stream it plays.
func startWHEPPlayer(p *page, src []byte, url, token string) {
	var started bool
	p.evalAwait(fmt.Sprintf(`(async () => {
		const url = URL.createObjectURL(new Blob([%q], {type: 'text/javascript'}));
		const { WHEPClient } = await import(url);
		const pc = new RTCPeerConnection();
		pc.addTransceiver('video', {direction: 'recvonly'});
		window.whepStream = null;
		pc.ontrack = (ev) => { window.whepStream = ev.streams[0]; };
		window.whepPC = pc;
		window.whep = new WHEPClient();
		await window.whep.view(pc, %q, %q);
		return true;
	})()`, string(src), url, token), &started)
}

// whepVideoStats is what a page's WHEP player (window.whepPC) shows of its video.
type whepVideoStats struct {
	Frames, Width, Height int
	Stream                string  // the played stream's id
	Shown                 float64 // window.firstFrameMs where the page sets it, else 0
}

func whepVideo(p *page) whepVideoStats {
	var v whepVideoStats
	p.evalAwait(`(async () => {
		let frames = 0, width = 0, height = 0;
		(await window.whepPC.getStats()).forEach((s) => {
			if (s.type === 'inbound-rtp' && s.kind === 'video') { frames = s.framesDecoded || 0; width = s.frameWidth || 0; height = s.frameHeight || 0; }
		});
		return {frames, width, height, stream: window.whepStream ? window.whepStream.id : '', shown: window.firstFrameMs || 0};
	})()`, &v)
	return v
}
