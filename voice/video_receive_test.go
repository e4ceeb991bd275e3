package voice_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/spellcoven/gateway/voice"
)

// gopClip is 60 frames of which only the first is a keyframe: a camera looping it sends a
// keyframe every 60 frames unless someone asks for one.
func gopClip(t *testing.T) [][]byte {
	t.Helper()
	_, frames, err := voice.ReadIVFFile(mediaPath("clip.ivf"))
	if err != nil {
		t.Fatal(err)
	}
	out := [][]byte{frames[0]}
	for len(out) < 60 {
		for _, f := range frames[1:6] {
			out = append(out, f)
		}
	}
	return out[:60]
}

func isKeyframe(f []byte) bool { return len(f) > 0 && f[0]&1 == 0 }

// TestVideoOnlyWhenAskedAndKeyframeOnRequest: the voice server forwards a member's camera to a
// client only after op 15 asks for it, starting at a keyframe; a picture loss indication from
// the client makes the member send a keyframe next.
func TestVideoOnlyWhenAskedAndKeyframeOnRequest(t *testing.T) {
	h := newVoiceHarness(t, nil)
	rec := newRecorder(t)
	conn := h.dial(voice.Config{Media: rec, NoVideo: true})
	u, err := h.vs.JoinUser(testGuild, testChannel, "200000000000000009")
	if err != nil {
		t.Fatal(err)
	}
	clip := gopClip(t)
	if err := u.StartCamera(clip, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.StopCamera() })
	waitFor(t, "video withheld from a client that did not ask", 10*time.Second, func() bool {
		return h.vs.Counters().VideoWithheld >= 20
	})
	if n := len(rec.VideoFrames(u.ID)); n != 0 {
		t.Fatalf("the client received %d frames without asking", n)
	}
	waitFor(t, "the camera's op 12", 20*time.Second, func() bool {
		return !errors.Is(conn.RequestKeyframe(u.ID), voice.ErrNoVideo)
	})

	if err := conn.WantVideo(100); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "video after asking", 10*time.Second, func() bool { return len(rec.VideoFrames(u.ID)) >= 3 })
	if first := rec.VideoFrames(u.ID)[0]; !isKeyframe(first) {
		t.Fatal("the first frame forwarded after asking is not a keyframe")
	}

	// Past the first keyframe, wait for deltas, then ask: a keyframe comes long before the
	// clip's own next one (60 frames on).
	waitFor(t, "delta frames", 10*time.Second, func() bool { return len(rec.VideoFrames(u.ID)) >= 5 })
	requests := h.vs.Counters().KeyframeRequests
	asked := len(rec.VideoFrames(u.ID))
	if err := conn.RequestKeyframe(u.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the server to take the keyframe request", 10*time.Second, func() bool {
		return h.vs.Counters().KeyframeRequests == requests+1
	})
	waitFor(t, "a keyframe after the request", 10*time.Second, func() bool {
		for _, f := range rec.VideoFrames(u.ID)[asked:] {
			if isKeyframe(f) {
				return true
			}
		}
		return false
	})
	frames := rec.VideoFrames(u.ID)
	for i, f := range frames[asked:] {
		if isKeyframe(f) {
			if i > 30 {
				t.Fatalf("the keyframe came %d frames after the request: not an answer to it", i)
			}
			break
		}
	}
	if !bytes.Equal(frames[0], clip[0]) {
		t.Fatal("frames arrive altered")
	}

	// Withdrawn video: nothing to ask a keyframe of.
	if err := u.StopCamera(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the withdrawn video's op 12", 20*time.Second, func() bool {
		return errors.Is(conn.RequestKeyframe(u.ID), voice.ErrNoVideo)
	})
	if err := conn.WantVideo(101); err == nil {
		t.Error("quality 101 accepted")
	}
}

func TestRTCPSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, voice.KeySize)
	pli := []byte{0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2}
	for _, mode := range []voice.Mode{voice.ModeAES256GCM, voice.ModeXChaCha20Poly1305} {
		s, _ := voice.NewSealer(mode, key)
		o, _ := voice.NewOpener(mode, key)
		sealed, err := s.SealRTCP(nil, pli)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sealed[:8], pli[:8]) || bytes.Contains(sealed[8:], pli[8:]) {
			t.Fatalf("%s: header not clear or body not sealed: % x", mode, sealed)
		}
		if !voice.IsRTCP(sealed) {
			t.Fatalf("%s: a sealed PLI is not recognised as RTCP", mode)
		}
		plain, err := o.OpenRTCP(nil, sealed)
		if err != nil || !bytes.Equal(plain, pli) {
			t.Fatalf("%s: open: % x, %v", mode, plain, err)
		}
		sealed[9] ^= 1
		if _, err := o.OpenRTCP(nil, sealed); !errors.Is(err, voice.ErrDecrypt) {
			t.Fatalf("%s: tampered RTCP opened: %v", mode, err)
		}
		if _, err := s.SealRTCP(nil, pli[:4]); err == nil {
			t.Fatalf("%s: a 4-byte RTCP packet was sealed", mode)
		}
	}
	legacy, _ := voice.NewSealer(voice.ModeXSalsa20Poly1305, key)
	if _, err := legacy.SealRTCP(nil, pli); !errors.Is(err, voice.ErrRTCPMode) {
		t.Fatalf("legacy mode: %v", err)
	}
}
