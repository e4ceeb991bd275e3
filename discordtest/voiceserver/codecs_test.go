package voiceserver

import (
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/voice"
)

// codecClient is a bot that announces its own video codecs in op 1 and asks for video.
type codecClient struct {
	raw    *rawClient
	udp    *net.UDPConn
	opener *voice.Opener
	desc   map[string]any
}

func newCodecClient(t *testing.T, s *Server, user string, codecs []map[string]any) *codecClient {
	t.Helper()
	_, token := s.Allocate(discordtest.VoiceGrant{GuildID: guild, ChannelID: channel, UserID: user, SessionID: "gw-" + user})
	c := dialRaw(t, s)
	c.send(opIdentify, map[string]any{"server_id": guild, "user_id": user, "session_id": "gw-" + user, "token": token, "max_dave_protocol_version": 0})
	if m := c.read(); m.Op != opReady {
		t.Fatalf("got op %d, want ready", m.Op)
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	port := udp.LocalAddr().(*net.UDPAddr).Port
	c.send(opSelectProtocol, map[string]any{"protocol": "udp", "codecs": codecs,
		"data": map[string]any{"address": "127.0.0.1", "port": port, "mode": ModeAES256GCM}})
	cc := &codecClient{raw: c, udp: udp}
	for cc.opener == nil {
		m := c.read()
		if m.Op != opSessionDescription {
			continue
		}
		var d struct {
			Key []int `json:"secret_key"`
		}
		_ = json.Unmarshal(m.D, &d)
		_ = json.Unmarshal(m.D, &cc.desc)
		key := make([]byte, 32)
		for i, v := range d.Key {
			key[i] = byte(v)
		}
		cc.opener, _ = voice.NewOpener(ModeAES256GCM, key)
	}
	c.send(opMediaSinkWants, map[string]any{"any": 100})
	return cc
}

// videoPTs reads what arrives for a while and returns the payload types seen on ssrc.
func (c *codecClient) videoPTs(t *testing.T, ssrc uint32, wait time.Duration) map[uint8]int {
	t.Helper()
	seen := map[uint8]int{}
	buf := make([]byte, 2048)
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		_ = c.udp.SetReadDeadline(deadline)
		n, err := c.udp.Read(buf)
		if err != nil {
			break
		}
		p, err := c.opener.Open(nil, buf[:n])
		if err == nil && p.SSRC == ssrc {
			seen[p.PayloadType]++
		}
	}
	return seen
}

// TestVideoInTheReceiversCodec: a member's H.264 camera reaches a bot that announced H.264 under
// that bot's own payload type, and none of it a bot that announced VP8 only.
func TestVideoInTheReceiversCodec(t *testing.T) {
	s := startServer(t, nil)
	h264Bot := newCodecClient(t, s, "31", []map[string]any{
		{"name": "opus", "type": "audio", "priority": 1000, "payload_type": 120},
		{"name": "H264", "type": "video", "priority": 1000, "payload_type": 99, "rtx_payload_type": 100},
	})
	vp8Bot := newCodecClient(t, s, "32", []map[string]any{
		{"name": "opus", "type": "audio", "priority": 1000, "payload_type": 120},
		{"name": "VP8", "type": "video", "priority": 1000, "payload_type": 103, "rtx_payload_type": 104},
	})
	if h264Bot.desc["video_codec"] != "H264" || vp8Bot.desc["video_codec"] != "VP8" {
		t.Fatalf("session descriptions' video codecs %v, %v", h264Bot.desc["video_codec"], vp8Bot.desc["video_codec"])
	}
	u, err := s.JoinUser(guild, channel, "40")
	if err != nil {
		t.Fatal(err)
	}
	_, clip, err := voice.ReadH264File("../../voice/testdata/media/clip.h264")
	if err != nil {
		t.Fatal(err)
	}
	withheld := s.Counters().VideoWithheld
	if err := u.StartCamera(clip, 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.StopCamera() })
	got := h264Bot.videoPTs(t, u.VideoSSRC, 500*time.Millisecond)
	if len(got) != 1 || got[99] < 20 {
		t.Fatalf("the H.264 bot got payload types %v, want 99 only", got)
	}
	if got := vp8Bot.videoPTs(t, u.VideoSSRC, 300*time.Millisecond); len(got) != 0 {
		t.Fatalf("the VP8-only bot got the H.264 camera: %v", got)
	}
	if s.Counters().VideoWithheld <= withheld {
		t.Fatal("what the VP8-only bot did not get is not counted")
	}
}
