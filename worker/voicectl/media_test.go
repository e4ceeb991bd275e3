package voicectl

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/voice"
)

const (
	testUser1 = "1400000000000000001"
	testUser2 = "1400000000000000002"
)

// TestPlaySendsTheFile: the voice server receives the file's Opus packets, in order, then the
// five silence frames that end a talk spurt.
func TestPlaySendsTheFile(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	joined := h.join()
	want := readOpus(t, filepath.Join(h.media, "tone-a.opus"))
	st, err := h.ctl.Play("tone-a.opus")
	if err != nil || st.Playing == nil || st.Playing.File != "tone-a.opus" {
		t.Fatalf("Play: %v %+v", err, st.Playing)
	}
	_, err = h.ctl.Play("tone-a.opus")
	wantCode(t, err, CodeAlreadyPlaying)
	st = h.waitStatus("the end of the playback", 10*time.Second, func(st Status) bool { return st.LastPlayback != nil })
	if p := st.LastPlayback; p.Frames != len(want) || p.Error != "" || p.Stopped || st.Playing != nil {
		t.Fatalf("playback %+v, want %d frames", p, len(want))
	}
	// The playback ends when the last packet is sent; the server may not have read it yet.
	got := h.waitReceived(joined.SSRC, len(want)+5)
	for i, p := range want {
		if !bytes.Equal(got[i].Payload, p) {
			t.Fatalf("packet %d differs from the file's", i)
		}
	}
	if v := metricValue(t, h.reg, "coven_worker_voice_packets_sent_total", nil); v < float64(len(want)+5) {
		t.Fatalf("packets_sent_total %v", v)
	}
}

// TestStopPlayback: a stopped playback ends at once, and says how far it went.
func TestStopPlayback(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.join()
	if _, err := h.ctl.Play("tone-a.opus"); err != nil {
		t.Fatal(err)
	}
	h.waitStatus("some frames sent", 5*time.Second, func(st Status) bool { return st.Playing != nil && st.Playing.Frames > 3 })
	st, err := h.ctl.StopPlayback()
	if err != nil || st.Playing != nil || st.LastPlayback == nil || !st.LastPlayback.Stopped || st.LastPlayback.Frames == 0 {
		t.Fatalf("StopPlayback: %v %+v", err, st.LastPlayback)
	}
	_, err = h.ctl.StopPlayback()
	wantCode(t, err, CodeNotPlaying)
}

// TestPlayRefuses: a name that leaves the media directory, a missing or unplayable file, or no
// call: refused, and nothing plays.
func TestPlayRefuses(t *testing.T) {
	outside := t.TempDir()
	copyFile(t, "../../voice/testdata/media/tone-b.opus", filepath.Join(outside, "secret.opus"))
	cases := []struct {
		name    string
		file    string
		noJoin  bool
		noMedia bool
		code    string
	}{
		{name: "parent directory", file: "../secret.opus", code: CodeBadPath},
		{name: "through a subdirectory", file: "sub/../../secret.opus", code: CodeBadPath},
		{name: "absolute path", file: filepath.Join(outside, "secret.opus"), code: CodeBadPath},
		{name: "symbolic link out", file: "link.opus", code: CodeBadPath},
		{name: "backslash", file: `..\secret.opus`, code: CodeBadPath},
		{name: "empty", file: "", code: CodeBadPath},
		{name: "missing", file: "nope.opus", code: CodeFileNotFound},
		{name: "not Ogg Opus", file: "notes.txt", code: CodeBadMedia},
		{name: "a directory", file: "sub", code: CodeBadMedia},
		{name: "no call", file: "tone-a.opus", noJoin: true, code: CodeNotConnected},
		{name: "playing off", file: "tone-a.opus", noMedia: true, code: CodeNotConfigured},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{mutate: func(cfg *Config) {
				if c.noMedia {
					cfg.MediaDir = ""
				}
			}})
			os.Mkdir(filepath.Join(h.media, "sub"), 0o755)
			os.WriteFile(filepath.Join(h.media, "notes.txt"), []byte("not a song\n"), 0o644)
			if err := os.Symlink(filepath.Join(outside, "secret.opus"), filepath.Join(h.media, "link.opus")); err != nil {
				t.Fatal(err)
			}
			var ssrc uint32
			if !c.noJoin {
				ssrc = h.join().SSRC
			}
			st, err := h.ctl.Play(c.file)
			wantCode(t, err, c.code)
			if st.Playing != nil || h.ctl.Status().Playing != nil {
				t.Fatal("something plays after a refusal")
			}
			time.Sleep(50 * time.Millisecond)
			if ssrc != 0 && len(h.vs.Received(ssrc)) != 0 {
				t.Fatal("packets reached the voice server")
			}
		})
	}
}

// sendMedia makes two users speak in the call, the second with video too, and returns what
// each sent.
func sendMedia(t *testing.T, h *harness) (audio1, audio2, video2 [][]byte) {
	t.Helper()
	audio1 = readOpus(t, "../../voice/testdata/media/tone-b.opus")
	audio2 = readOpus(t, "../../voice/testdata/media/tone-c.opus")
	video2 = readIVF(t, "../../voice/testdata/media/clip.ivf")
	u1, err := h.vs.JoinUser(testGuild, testRoom, testUser1)
	if err != nil {
		t.Fatal(err)
	}
	u2, err := h.vs.JoinUser(testGuild, testRoom, testUser2)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	send := func(f func() (voiceserver.SendReport, error)) {
		wg.Go(func() {
			if _, err := f(); err != nil {
				errs <- err
			}
		})
	}
	send(func() (voiceserver.SendReport, error) { return u1.SendOpus(ctx, audio1, voiceserver.SendOptions{}) })
	send(func() (voiceserver.SendReport, error) { return u2.SendOpus(ctx, audio2, voiceserver.SendOptions{}) })
	wg.Wait()
	send(func() (voiceserver.SendReport, error) { return u2.SendVP8(ctx, video2, voiceserver.SendOptions{}) })
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	h.waitStatus("every packet received", 10*time.Second, func(st Status) bool {
		n := map[string]Member{}
		for _, m := range st.Members {
			n[m.UserID] = m
		}
		return n[testUser1].AudioPackets == uint64(len(audio1)) && n[testUser2].AudioPackets == uint64(len(audio2)) &&
			n[testUser2].VideoFrames == uint64(len(video2))
	})
	return audio1, audio2, video2
}

// TestRecordEachMember: each member's audio goes to an Ogg Opus file and their video to an IVF
// file, which read back as what they sent.
func TestRecordEachMember(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.join()
	st, err := h.ctl.StartRecording("game/one")
	if err != nil || st.Recording == nil || st.Recording.Dir != "game/one" {
		t.Fatalf("StartRecording: %v %+v", err, st.Recording)
	}
	_, err = h.ctl.StartRecording("game/two")
	wantCode(t, err, CodeAlreadyRecording)
	audio1, audio2, video2 := sendMedia(t, h)
	st, err = h.ctl.StopRecording()
	if err != nil || st.Recording != nil || st.LastRecording == nil {
		t.Fatalf("StopRecording: %v %+v", err, st)
	}
	rec := st.LastRecording
	if len(rec.Members) != 2 || rec.Error != "" || rec.Truncated || rec.EndedAt.IsZero() {
		t.Fatalf("recording %+v", rec)
	}
	m1, m2 := rec.Members[0], rec.Members[1]
	if m1.UserID != testUser1 || m1.AudioFile != "game/one/"+testUser1+".opus" || m1.VideoFile != "" || m1.AudioPackets != uint64(len(audio1)) {
		t.Fatalf("first member %+v", m1)
	}
	if m2.UserID != testUser2 || m2.VideoFile != "game/one/"+testUser2+".ivf" || m2.VideoFrames != uint64(len(video2)) {
		t.Fatalf("second member %+v", m2)
	}
	for _, f := range []struct {
		path string
		want [][]byte
	}{{m1.AudioFile, audio1}, {m2.AudioFile, audio2}} {
		if got := readOpus(t, filepath.Join(h.records, f.path)); !equalPackets(got, f.want) {
			t.Fatalf("%s holds %d packets, not the %d sent", f.path, len(got), len(f.want))
		}
	}
	if got := readIVF(t, filepath.Join(h.records, m2.VideoFile)); !equalPackets(got, video2) {
		t.Fatalf("%s holds %d frames, not the %d sent", m2.VideoFile, len(got), len(video2))
	}
	_, err = h.ctl.StopRecording()
	wantCode(t, err, CodeNotRecording)
	_, err = h.ctl.StartRecording("game/one")
	wantCode(t, err, CodeRecordingExists)
}

// TestRecordingSizeLimit: past MaxRecordingBytes the recording stops growing and says so.
func TestRecordingSizeLimit(t *testing.T) {
	const limit = 4 << 10
	h := newHarness(t, harnessOptions{mutate: func(c *Config) { c.MaxRecordingBytes = limit }})
	h.join()
	if _, err := h.ctl.StartRecording("short"); err != nil {
		t.Fatal(err)
	}
	sendMedia(t, h)
	st, _ := h.ctl.StopRecording()
	rec := st.LastRecording
	if rec == nil || !rec.Truncated || rec.Bytes > limit || rec.Bytes == 0 {
		t.Fatalf("recording %+v, want truncated at %d bytes", rec, limit)
	}
	var size int64
	filepath.Walk(filepath.Join(h.records, "short"), func(_ string, fi os.FileInfo, _ error) error {
		if fi != nil && !fi.IsDir() {
			size += fi.Size()
		}
		return nil
	})
	if size > 2*limit {
		t.Fatalf("the files hold %d bytes for a limit of %d", size, limit)
	}
}

// TestRecordRefuses: names that leave the recordings directory, a name taken, no call.
func TestRecordRefuses(t *testing.T) {
	outside := t.TempDir()
	cases := []struct {
		name     string
		dir      string
		noJoin   bool
		noRecord bool
		code     string
	}{
		{name: "parent directory", dir: "../escape", code: CodeBadPath},
		{name: "absolute path", dir: outside, code: CodeBadPath},
		{name: "symbolic link out", dir: "link/x", code: CodeBadPath},
		{name: "taken", dir: "taken", code: CodeRecordingExists},
		{name: "no call", dir: "x", noJoin: true, code: CodeNotConnected},
		{name: "recording off", dir: "x", noRecord: true, code: CodeNotConfigured},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{mutate: func(cfg *Config) {
				if c.noRecord {
					cfg.RecordingsDir = ""
				}
			}})
			os.Mkdir(filepath.Join(h.records, "taken"), 0o755)
			os.Symlink(outside, filepath.Join(h.records, "link"))
			if !c.noJoin {
				h.join()
			}
			_, err := h.ctl.StartRecording(c.dir)
			wantCode(t, err, c.code)
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Fatal("something was written outside the recordings directory")
			}
			if h.ctl.Status().Recording != nil {
				t.Fatal("a recording runs after a refusal")
			}
		})
	}
}

func equalPackets(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// readIVF returns the frames of an IVF file.
func readIVF(t *testing.T, path string) [][]byte {
	t.Helper()
	_, frames, err := voice.ReadIVFFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return frames
}
