package voice_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/voice"
)

// TestPlayOpusArrivesInOrderPaced plays an Ogg Opus file: the packets the voice server decrypts
// are the file's packets, in order, then five silence frames, with RTP sequence numbers and
// timestamps as Discord wants them, paced at 20 ms, after a speaking update.
func TestPlayOpusArrivesInOrderPaced(t *testing.T) {
	want := readOpusPackets(t, "tone-a.opus")
	for _, mc := range modeCases {
		t.Run(string(mc.mode), func(t *testing.T) {
			h := newVoiceHarness(t, func(c *voiceserver.Config) { c.Modes = mc.server })
			conn := h.dial(mc.client)
			if conn.Mode() != mc.mode {
				t.Fatalf("negotiated %q", conn.Mode())
			}
			stats := playFile(t, conn, "tone-a.opus")
			if stats.Frames != len(want) || stats.Lateness.Count() != len(want) {
				t.Fatalf("stats %+v", stats)
			}
			info, _ := h.vs.Session(testGuild, testBot)
			if info.SSRC != conn.SSRC() || info.Mode != string(mc.mode) {
				t.Fatalf("server session %+v, client SSRC %d", info, conn.SSRC())
			}
			total := len(want) + 5
			waitFor(t, "all packets at the server", 5*time.Second, func() bool { return len(h.vs.Received(info.SSRC)) >= total })
			got := h.vs.Received(info.SSRC)
			if len(got) != total {
				t.Fatalf("server received %d packets, want %d", len(got), total)
			}
			for i, p := range got {
				wantPayload := []byte{0xF8, 0xFF, 0xFE}
				if i < len(want) {
					wantPayload = want[i]
				}
				if !bytes.Equal(p.Payload, wantPayload) {
					t.Fatalf("packet %d payload differs", i)
				}
				if p.PayloadType != voice.PayloadTypeOpus || p.Sequence != got[0].Sequence+uint16(i) ||
					p.Timestamp != got[0].Timestamp+uint32(960*i) || p.ExtensionProfile != 0 {
					t.Fatalf("packet %d header: %+v", i, p)
				}
			}
			// Paced: a sender without pacing would put all 55 packets out in a few ms. The
			// bound leaves 40 ms for the first packet's own delay at the server.
			if span, min := got[total-1].At.Sub(got[0].At), time.Duration(total-1)*20*time.Millisecond-40*time.Millisecond; span < min {
				t.Fatalf("packets spread over %v, want at least %v", span, min)
			}
			speakingOps := func() []int {
				var speaking []int
				for _, op := range h.vs.Ops(testGuild, testBot) {
					if op.Op == 5 {
						var d struct {
							Speaking int    `json:"speaking"`
							SSRC     uint32 `json:"ssrc"`
						}
						_ = json.Unmarshal(op.D, &d)
						if d.SSRC != info.SSRC {
							t.Errorf("speaking with SSRC %d", d.SSRC)
						}
						speaking = append(speaking, d.Speaking)
					}
				}
				return speaking
			}
			waitFor(t, "speaking on, then off", 5*time.Second, func() bool { return slices.Equal(speakingOps(), []int{1, 0}) })
		})
	}
}

// dominantFrequency estimates a tone's frequency from the zero crossings of 16-bit PCM.
func dominantFrequency(pcm []int16) float64 {
	crossings := 0
	for i := 1; i < len(pcm); i++ {
		if (pcm[i-1] < 0) != (pcm[i] < 0) {
			crossings++
		}
	}
	return float64(crossings) / 2 / (float64(len(pcm)) / 48000)
}

// TestReceiveUsersWithLossAndReordering has three emulated users send their tones at once
// through a lossy, reordering network: each user's audio arrives separately, in order, with
// exactly the dropped packets missing and counted, and decodes to that user's tone.
func TestReceiveUsersWithLossAndReordering(t *testing.T) {
	users := []struct {
		id   string
		file string
		freq float64
	}{
		{"200000000000000001", "tone-a.opus", 440},
		{"200000000000000002", "tone-b.opus", 554},
		{"200000000000000003", "tone-c.opus", 659},
	}
	for _, mc := range modeCases {
		t.Run(string(mc.mode), func(t *testing.T) {
			h := newVoiceHarness(t, func(c *voiceserver.Config) { c.Modes = mc.server })
			rec, err := voice.NewRecorder(voice.RecorderConfig{})
			if err != nil {
				t.Fatal(err)
			}
			events := newEventLog()
			cfg := mc.client
			cfg.Media, cfg.OnEvent = rec, events.record
			conn := h.dial(cfg)
			var wg sync.WaitGroup
			reports := make([]voiceserver.SendReport, len(users))
			packets := make([][][]byte, len(users))
			for i, u := range users {
				eu, err := h.vs.JoinUser(testGuild, testChannel, u.id)
				if err != nil {
					t.Fatal(err)
				}
				packets[i] = readOpusPackets(t, u.file)
				wg.Add(1)
				go func() {
					defer wg.Done()
					imp := voiceserver.Impairment{Loss: 0.08, Reorder: 0.15, Seed: uint64(i + 1)}
					reports[i], err = eu.SendOpus(context.Background(), packets[i], voiceserver.SendOptions{Impairment: imp})
					if err != nil {
						t.Errorf("user %d SendOpus: %v", i, err)
					}
				}()
			}
			wg.Wait()
			for i, u := range users {
				r := reports[i]
				if len(r.Dropped) == 0 || r.Reordered == 0 {
					t.Fatalf("user %d: the impairment dropped %d and reordered %d; pick a seed that does both", i, len(r.Dropped), r.Reordered)
				}
				var want [][]byte
				lastDelivered := -1
				for j, seq := range r.Sequences {
					if !slices.Contains(r.Dropped, seq) {
						want = append(want, packets[i][j])
						lastDelivered = j
					}
				}
				// Losses after the last delivered packet cannot be seen by the receiver.
				wantLost := 0
				for j, seq := range r.Sequences {
					if j < lastDelivered && slices.Contains(r.Dropped, seq) {
						wantLost++
					}
				}
				waitFor(t, fmt.Sprintf("user %d's audio (%d of %d packets, %+v) %+v", i, len(rec.Audio(u.id)), len(want), rec.Users(), conn.Stats()), 5*time.Second, func() bool { return len(rec.Audio(u.id)) >= len(want) })
				got := rec.Audio(u.id)
				if !slices.EqualFunc(got, want, bytes.Equal) {
					t.Fatalf("user %d: received %d packets, want %d (or out of order)", i, len(got), len(want))
				}
				if lost := rec.Lost(u.id); lost != wantLost {
					t.Fatalf("user %d: %d counted lost, want %d", i, lost, wantLost)
				}
				pcm, err := rec.DecodePCM(u.id)
				if err != nil {
					t.Fatal(err)
				}
				if f := dominantFrequency(pcm[len(pcm)/4 : len(pcm)*3/4]); math.Abs(f-u.freq) > u.freq*0.1 {
					t.Fatalf("user %d's audio decodes to %.0f Hz, want %.0f", i, f, u.freq)
				}
			}
			if got := rec.Users(); len(got) != len(users) {
				t.Fatalf("recorded users %v", got)
			}
			var connected, speaking int
			for _, e := range events.snapshot() {
				switch e := e.(type) {
				case *voice.ClientsConnectEvent:
					connected += len(e.UserIDs)
				case *voice.SpeakingEvent:
					speaking++
				}
			}
			if connected != len(users) || speaking != len(users) {
				t.Fatalf("%d users connected and %d speaking events, want %d each", connected, speaking, len(users))
			}
		})
	}
}

// TestVideoRoundTrip sends the clip both ways: the bot's VP8 reaches the server whole, with
// Discord's header extension, after op 12; an emulated user's VP8 reaches the bot's recorder
// whole, minus the frames that lost packets.
func TestVideoRoundTrip(t *testing.T) {
	frames := readIVFFrames(t, "clip.ivf")
	for _, mc := range modeCases {
		t.Run(string(mc.mode), func(t *testing.T) {
			h := newVoiceHarness(t, func(c *voiceserver.Config) { c.Modes = mc.server })
			dir := t.TempDir()
			rec, err := voice.NewRecorder(voice.RecorderConfig{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			cfg := mc.client
			cfg.Media = rec
			conn := h.dial(cfg)

			// Bot to server.
			f, err := os.Open(mediaPath("clip.ivf"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ivf, err := voice.NewIVFReader(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.PlayVP8(context.Background(), ivf); err != nil {
				t.Fatalf("PlayVP8: %v", err)
			}
			info, _ := h.vs.Session(testGuild, testBot)
			var video struct {
				VideoSSRC uint32 `json:"video_ssrc"`
				Streams   []struct {
					SSRC   uint32 `json:"ssrc"`
					Active bool   `json:"active"`
				} `json:"streams"`
			}
			var announced bool
			for _, op := range h.vs.Ops(testGuild, testBot) {
				if op.Op == 12 {
					_ = json.Unmarshal(op.D, &video)
					announced = announced || (video.VideoSSRC == info.VideoSSRC && video.Streams[0].Active)
				}
			}
			if !announced {
				t.Fatal("no op 12 announced the video SSRC")
			}
			var assembled [][]byte
			var a voice.VP8Assembler
			waitFor(t, "every frame's last video packet", 5*time.Second, func() bool {
				ends := 0
				for _, p := range h.vs.Received(info.VideoSSRC) {
					if p.Marker {
						ends++
					}
				}
				return ends == len(frames)
			})
			for i, p := range h.vs.Received(info.VideoSSRC) {
				if p.ExtensionProfile != 0xBEDE || !bytes.Equal(p.ExtensionBody, []byte{0x52, 0, 0, 0}) {
					t.Fatalf("video packet %d extension %x/%x", i, p.ExtensionProfile, p.ExtensionBody)
				}
				if p.PayloadType != voice.PayloadTypeVP8 {
					t.Fatalf("video packet %d payload type %d", i, p.PayloadType)
				}
				if fr, ok := a.Push(p.Sequence, p.Marker, p.Payload); ok {
					if want := uint32(len(assembled)) * 3000; p.Timestamp-h.vs.Received(info.VideoSSRC)[0].Timestamp != want {
						t.Fatalf("frame %d timestamp offset %d, want %d", len(assembled), p.Timestamp, want)
					}
					assembled = append(assembled, slices.Clone(fr))
				}
			}
			if !slices.EqualFunc(assembled, frames, bytes.Equal) {
				t.Fatalf("server assembled %d frames, want the clip's %d", len(assembled), len(frames))
			}

			// User to bot, with loss.
			u, err := h.vs.JoinUser(testGuild, testChannel, "200000000000000009")
			if err != nil {
				t.Fatal(err)
			}
			report, err := u.SendVP8(context.Background(), frames, voiceserver.SendOptions{
				Interval: 10 * time.Millisecond, Impairment: voiceserver.Impairment{Loss: 0.1, Reorder: 0.2, Seed: 3},
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(report.FramesDelivered) == len(frames) || len(report.FramesDelivered) == 0 {
				t.Fatalf("impairment delivered %d of %d frames; pick a seed that loses some", len(report.FramesDelivered), len(frames))
			}
			var want [][]byte
			for _, i := range report.FramesDelivered {
				want = append(want, frames[i])
			}
			waitFor(t, "the user's video", 5*time.Second, func() bool { return len(rec.VideoFrames(u.ID)) >= len(want) })
			// A frame whose loss is only discovered by the next one may take MaxDelay to be
			// dropped; the delivered ones are what counts.
			if got := rec.VideoFrames(u.ID); !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("recorded %d frames, want %d (or they differ)", len(got), len(want))
			}
			if err := rec.Close(); err != nil {
				t.Fatal(err)
			}
			_, ivfPath := rec.Files(u.ID)
			rf, err := os.Open(ivfPath)
			if err != nil {
				t.Fatal(err)
			}
			defer rf.Close()
			r, err := voice.NewIVFReader(rf)
			if err != nil {
				t.Fatal(err)
			}
			if r.Header.Frames != uint32(len(want)) || r.Header.Width != 176 || r.Header.TimebaseDenominator != voice.VideoClockRate {
				t.Fatalf("recorded IVF header %+v", r.Header)
			}
			for i := range want {
				fr, _, err := r.NextFrame()
				if err != nil || !bytes.Equal(fr, want[i]) {
					t.Fatalf("recorded IVF frame %d: %v", i, err)
				}
			}
		})
	}
}

// TestRecorderWritesOggPerUser checks the Ogg Opus file a Recorder writes for a user: it reads
// back, with pion/opus's checksumming reader, as the packets the user sent.
func TestRecorderWritesOggPerUser(t *testing.T) {
	h := newVoiceHarness(t, nil)
	dir := t.TempDir()
	rec, err := voice.NewRecorder(voice.RecorderConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	h.dial(voice.Config{Media: rec})
	u, err := h.vs.JoinUser(testGuild, testChannel, "200000000000000005")
	if err != nil {
		t.Fatal(err)
	}
	packets := readOpusPackets(t, "tone-c.opus")
	if _, err := u.SendOpus(context.Background(), packets, voiceserver.SendOptions{Interval: 5 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the user's audio", 5*time.Second, func() bool { return len(rec.Audio(u.ID)) == len(packets) })
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	opusPath, _ := rec.Files(u.ID)
	f, err := os.Open(opusPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := voice.NewOggOpusReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range packets {
		got, err := r.NextOpus()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
}
