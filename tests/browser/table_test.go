package browser

import (
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

// Emulated users of the sandbox with camera clips.
const (
	aliceID = "1300000000000000001"
	carolID = "1300000000000000003"
	danaID  = "1300000000000000011"
	eliID   = "1300000000000000012"
)

// tileJS reads one member's tile and stream in the demo page's table view.
const tileJS = `(async (id, kind = 'camera') => {
	const tile = document.querySelector('[data-testid="table-tile"][data-user-id="' + id + '"][data-kind="' + kind + '"]');
	if (!tile) return null;
	const v = tile.querySelector('video');
	const w = window.covenDebug.table;
	const key = kind === 'camera' ? id : id + ':' + kind;
	const report = w && await w.stats(key);
	let frames = 0, energy = 0, width = 0, height = 0;
	report && report.forEach((s) => {
		if (s.type === 'inbound-rtp' && s.kind === 'video') { frames = s.framesDecoded || 0; width = s.frameWidth || 0; height = s.frameHeight || 0; }
		if (s.type === 'inbound-rtp' && s.kind === 'audio') energy = s.totalAudioEnergy || 0;
	});
	return {state: tile.dataset.state, camera: tile.dataset.camera, note: tile.querySelector('[data-testid="table-note"]').textContent,
		name: tile.querySelector('[data-testid="table-name"]').textContent,
		streamId: w && w.streams.get(key) ? w.streams.get(key).id : '', videoWidth: v.videoWidth, videoHeight: v.videoHeight,
		frames, energy, width, height};
})`

type tileView struct {
	State, Camera, Note, Name, StreamID string
	VideoWidth, VideoHeight             int
	Frames                              int
	Energy                              float64
	Width, Height                       int
}

func (p *page) tile(id string) *tileView {
	p.t.Helper()
	var v *tileView
	p.evalAwait(tileJS+`('`+id+`')`, &v)
	return v
}

// TestTableViewInChromium: a signed-in member watches the Lobby's table in the demo page; the
// emulated cameras (real VP8 clips, DAVE-encrypted through the emulator's voice server, decrypted
// and relayed by the worker) decode in Chromium at the clip's size, the voices carry energy, each
// stream is labelled with its member; a camera turned off and a member who leaves show as such.
func TestTableViewInChromium(t *testing.T) {
	resetGuild(t)
	t.Cleanup(func() { resetGuild(t) })
	lobby := lobbyID(t)
	emu := stack.Emulator()
	for _, id := range []string{aliceID, danaID, eliID} {
		must(t, emu.JoinVoice(sandbox.GuildID, lobby, id))
	}
	for _, id := range []string{danaID, eliID} {
		must(t, emu.SetVoiceFlags(sandbox.GuildID, id, discordtest.VoiceFlags{SelfVideo: ptr(true)}))
	}
	p := openPage(t)
	p.do("loading the page", 30*time.Second, chromedp.Navigate(stack.URL()+"/"), chromedp.WaitVisible(byTestID("sign-in")))
	p.waitJS("the demo users", `!document.querySelector('[data-testid="sign-in"]').disabled`, 10*time.Second)
	p.selectOption("user-select", "alice")
	p.do("signing in", 10*time.Second, chromedp.Click(byTestID("sign-in"), chromedp.NodeVisible))
	p.waitJS("the Lobby with its members", `(window.covenDebug.state?.rooms ?? []).some((r) => r.name === 'Lobby' && r.members.length === 3)`, 20*time.Second)
	// Alice, an administrator, turns the Lobby's table view on (the Lobby has no owner).
	var watchable bool
	p.eval(`!!document.querySelector('[data-room-id="`+lobby+`"] [data-testid="watch-room"]')`, &watchable)
	if watchable {
		t.Fatal("a room whose table view is off offers to watch it")
	}
	p.do("turning table view on", 10*time.Second, chromedp.Click(`[data-room-id="`+lobby+`"] [data-testid="table-switch"]`, chromedp.NodeVisible))
	p.waitJS("the Lobby's table view on", `!!document.querySelector('[data-room-id="`+lobby+`"] [data-testid="room-table"]')`, 20*time.Second)
	p.do("watching the Lobby's table", 10*time.Second, chromedp.Click(`[data-room-id="`+lobby+`"] [data-testid="watch-room"]`, chromedp.NodeVisible))

	for _, id := range []string{danaID, eliID} {
		var first *tileView
		p.waitUntil("the camera of "+id+" decoding at the clip's size", 45*time.Second, func() error {
			first = p.tile(id)
			if first == nil || first.State != "live" || first.Frames < 10 || first.VideoWidth != 320 || first.VideoHeight != 240 {
				return fmt.Errorf("tile %+v", first)
			}
			return nil
		})
		if first.StreamID != id {
			t.Errorf("the stream of %s is labelled %q", id, first.StreamID)
		}
		p.waitUntil("frames of "+id+" still decoding", 20*time.Second, func() error {
			if v := p.tile(id); v == nil || v.Frames < first.Frames+30 {
				return fmt.Errorf("frames %d then %+v", first.Frames, v)
			}
			return nil
		})
	}
	if v := p.tile(aliceID); v != nil {
		t.Errorf("the viewer watches herself: %+v", v)
	}
	for _, bot := range []string{sandbox.BotID, sandbox.VoiceBotID} {
		if v := p.tile(bot); v != nil {
			t.Errorf("a relaying bot has a tile: %+v", v)
		}
	}
	p.waitUntil("Eli's voice (the chime) carrying energy", 30*time.Second, func() error {
		if v := p.tile(eliID); v == nil || v.Energy <= 0 {
			return fmt.Errorf("tile %+v", v)
		}
		return nil
	})

	// The bot's voice connection taken away (kicked from the channel): the page shows the outage,
	// asks again, the bot comes back, and the camera plays again.
	before := p.tile(danaID).Frames
	must(t, emu.LeaveVoice(sandbox.GuildID, botInVoice(t, emu, lobby)))
	p.waitUntil("the outage shown", 30*time.Second, func() error {
		if v := p.tile(danaID); v == nil || v.State != "retrying" || !strings.Contains(v.Note, "trying again") {
			return fmt.Errorf("tile %+v", v)
		}
		return nil
	})
	p.waitUntil("Dana's camera back by itself", 60*time.Second, func() error {
		// A new session: its counters start again.
		if v := p.tile(danaID); v == nil || v.State != "live" || v.Frames < 10 || v.Frames == before {
			return fmt.Errorf("tile %+v", v)
		}
		return nil
	})

	must(t, emu.SetVoiceFlags(sandbox.GuildID, eliID, discordtest.VoiceFlags{SelfVideo: ptr(false)}))
	p.waitUntil("Eli's camera turned off", 20*time.Second, func() error {
		if v := p.tile(eliID); v == nil || v.Camera != "off" || v.Note != "Camera off" {
			return fmt.Errorf("tile %+v", v)
		}
		return nil
	})
	must(t, emu.LeaveVoice(sandbox.GuildID, danaID))
	p.waitUntil("Dana's tile gone", 20*time.Second, func() error {
		if v := p.tile(danaID); v != nil {
			return fmt.Errorf("tile %+v", v)
		}
		return nil
	})
	t.Logf("screenshot: %s", p.screenshot("table.png"))

	// Carol is not in the Lobby: refused before any offer is read.
	token, err := stack.Issuer().MintFor("carol", sandbox.Audience, time.Minute, map[string]any{"discord_id": carolID})
	must(t, err)
	req, _ := http.NewRequest("POST", stack.URL()+"/api/table/"+lobby+"/"+eliID, strings.NewReader("not sdp"))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := stack.Client().Do(req)
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(body), "not_a_member") {
		t.Fatalf("an outsider's offer: %d %s", resp.StatusCode, body)
	}
	for _, m := range p.consoleMessages() {
		if m.IsException() {
			t.Errorf("uncaught exception in the page: %s", m)
		}
	}
}

// TestIndependentWHEPPlayer: whip-whep's WHEPClient, as published on npm and unchanged, plays a
// member's camera through the edge's table view in Chromium.
func TestIndependentWHEPPlayer(t *testing.T) {
	src, err := os.ReadFile("whep/node_modules/whip-whep/whep.js")
	if err != nil {
		t.Fatalf("%v (run: cd tests/browser/whep && npm ci)", err)
	}
	resetGuild(t)
	t.Cleanup(func() { resetGuild(t) })
	lobby := lobbyID(t)
	emu := stack.Emulator()
	for _, id := range []string{aliceID, danaID} {
		must(t, emu.JoinVoice(sandbox.GuildID, lobby, id))
	}
	must(t, emu.SetVoiceFlags(sandbox.GuildID, danaID, discordtest.VoiceFlags{SelfVideo: ptr(true)}))
	token, err := stack.Issuer().MintFor("alice", sandbox.Audience, 10*time.Minute, map[string]any{"discord_id": aliceID, "admin": true})
	must(t, err)
	tableOn(t, lobby, token)
	p := openPage(t)
	p.do("loading the page", 30*time.Second, chromedp.Navigate(stack.URL()+"/"), chromedp.WaitVisible(byTestID("sign-in")))
	// The module from npm, loaded as it is into the page.
	var started bool
	p.evalAwait(fmt.Sprintf(`(async () => {
		const url = URL.createObjectURL(new Blob([%q], {type: 'text/javascript'}));
		const { WHEPClient } = await import(url);
		const pc = new RTCPeerConnection();
		pc.addTransceiver('video', {direction: 'recvonly'});
		pc.addTransceiver('audio', {direction: 'recvonly'});
		window.whepStream = null;
		window.firstFrameMs = 0;
		const video = document.createElement('video');
		video.muted = true;
		document.body.append(video);
		const t0 = performance.now();
		pc.ontrack = (ev) => {
			window.whepStream = ev.streams[0];
			if (ev.track.kind !== 'video') return;
			video.srcObject = ev.streams[0];
			void video.play();
			video.requestVideoFrameCallback((now) => { window.firstFrameMs = now - t0; });
		};
		window.whepPC = pc;
		window.whep = new WHEPClient();
		await window.whep.view(pc, %q, %q);
		return true;
	})()`, string(src), stack.URL()+"/api/table/"+lobby+"/"+danaID, token), &started)
	p.waitUntil("Dana's camera decoding in whip-whep's player", 45*time.Second, func() error {
		v := whepVideo(p) // Shown: the first frame's presentation, ms after the POST; 0 before it
		// Decoded frames can be counted before the first is presented: the time logged below is the
		// presentation's.
		if v.Frames < 10 || v.Width != 320 || v.Height != 240 || v.Stream != danaID || v.Shown <= 0 {
			return fmt.Errorf("%+v", v)
		}
		return nil
	})
	var firstFrameMs float64
	p.eval(`window.firstFrameMs`, &firstFrameMs)
	t.Logf("first frame shown %.0f ms after the WHEP POST began (offer, bot joining the room, answer, ICE, DTLS, keyframe)", firstFrameMs)
	var stopped bool
	p.evalAwait(`(async () => { await window.whep.stop(); return true; })()`, &stopped)
	p.waitUntil("the session ended by whip-whep's DELETE", 20*time.Second, func() error {
		st, err := stack.VoiceStatus()
		if err != nil {
			return err
		}
		if st.Table == nil || st.Table.Total != 0 {
			return fmt.Errorf("table %+v", st.Table)
		}
		return nil
	})
}

// tableOn turns a room's table view on through the rooms API, as its owner or an administrator
// (the token's), and waits until the edge's projection shows it.
func tableOn(t *testing.T, roomID, token string) {
	t.Helper()
	call := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, stack.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := stack.Client().Do(req)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := call("PUT", "/api/rooms/"+roomID+"/table"); code != 200 {
		t.Fatalf("turning table view on: %d %s", code, body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, body := call("GET", "/api/rooms/"+roomID); strings.Contains(body, `"table_view":true`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the edge did not show table view on within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// botInVoice is the worker's bot (the main one or a voice bot) in room's voice channel.
func botInVoice(t *testing.T, emu *discordtest.Server, room string) string {
	t.Helper()
	for _, g := range emu.State().Guilds {
		for _, vs := range g.VoiceStates {
			if vs.ChannelID == room && (vs.UserID == sandbox.BotID || vs.UserID == sandbox.VoiceBotID) {
				return vs.UserID
			}
		}
	}
	t.Fatalf("no bot of the worker is in room %s", room)
	return ""
}
