package browser

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/sandbox"
)

// fayID's camera is H.264 (sandbox/media/camera-fay.h264).
const fayID = "1300000000000000013"

// TestH264CameraInChromium: a member whose camera sends H.264 (libx264 constrained baseline,
// DAVE-encrypted through the emulator's voice server) plays in headless Chromium through the
// edge's WHEP endpoint: the session negotiates H.264 and the frames decode at the clip's size.
func TestH264CameraInChromium(t *testing.T) {
	resetGuild(t)
	t.Cleanup(func() { resetGuild(t) })
	lobby := lobbyID(t)
	emu := stack.Emulator()
	for _, id := range []string{aliceID, fayID} {
		must(t, emu.JoinVoice(sandbox.GuildID, lobby, id))
	}
	must(t, emu.SetVoiceFlags(sandbox.GuildID, fayID, discordtest.VoiceFlags{SelfVideo: ptr(true)}))
	token, err := stack.Issuer().MintFor("alice", sandbox.Audience, 10*time.Minute, map[string]any{"discord_id": aliceID, "admin": true})
	must(t, err)
	tableOn(t, lobby, token)
	p := openPage(t)
	p.do("loading the page", 30*time.Second, chromedp.Navigate(stack.URL()+"/"), chromedp.WaitVisible(byTestID("sign-in")))
	var status int
	p.evalAwait(fmt.Sprintf(`(async () => {
		const pc = new RTCPeerConnection();
		pc.addTransceiver('video', {direction: 'recvonly'});
		pc.addTransceiver('audio', {direction: 'recvonly'});
		const video = document.createElement('video');
		video.muted = true;
		document.body.append(video);
		pc.ontrack = (ev) => { if (ev.track.kind === 'video') { video.srcObject = ev.streams[0]; void video.play(); } };
		await pc.setLocalDescription(await pc.createOffer());
		const resp = await fetch(%q, {method: 'POST', headers: {'Content-Type': 'application/sdp', 'Authorization': 'Bearer ' + %q}, body: pc.localDescription.sdp});
		if (resp.status !== 201) return resp.status;
		await pc.setRemoteDescription({type: 'answer', sdp: await resp.text()});
		window.h264PC = pc;
		return resp.status;
	})()`, stack.URL()+"/api/table/"+lobby+"/"+fayID, token), &status)
	if status != 201 {
		t.Fatalf("the WHEP offer answered %d", status)
	}
	type videoStats struct {
		Frames, Width, Height int
		Codec                 string
	}
	statsJS := `(async () => {
		let frames = 0, width = 0, height = 0, codecId = '', codec = '';
		const report = await window.h264PC.getStats();
		report.forEach((s) => {
			if (s.type === 'inbound-rtp' && s.kind === 'video') { frames = s.framesDecoded || 0; width = s.frameWidth || 0; height = s.frameHeight || 0; codecId = s.codecId; }
		});
		report.forEach((s) => { if (s.id === codecId) codec = s.mimeType; });
		return {frames, width, height, codec};
	})()`
	var first videoStats
	p.waitUntil("Fay's H.264 camera decoding at the clip's size", 45*time.Second, func() error {
		p.evalAwait(statsJS, &first)
		if first.Frames < 10 || first.Width != 320 || first.Height != 240 || first.Codec != "video/H264" {
			return fmt.Errorf("%+v", first)
		}
		return nil
	})
	p.waitUntil("frames still decoding", 20*time.Second, func() error {
		var v videoStats
		p.evalAwait(statsJS, &v)
		if v.Frames < first.Frames+30 {
			return fmt.Errorf("frames %d then %+v", first.Frames, v)
		}
		return nil
	})
}
