package stack

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/worker/voicectl"
)

// TestVoiceRecordsMembers: players in the room speak and show their camera; the recording holds
// one Ogg Opus file per member with exactly the packets they sent, and one IVF file with the
// frames of the member who sent video.
func TestVoiceRecordsMembers(t *testing.T) {
	s := newVoiceStack(t, voiceOptions{})
	room := s.voiceRoom("Table three")
	players := s.users(2)
	for _, p := range players {
		if err := s.emu.JoinVoice(s.guild.ID, room.ID, p.ID); err != nil {
			t.Fatal(err)
		}
	}
	s.join(room.ID)
	if _, err := s.client.StartRecording(context.Background(), "round-1"); err != nil {
		t.Fatal(err)
	}

	audio := [][][]byte{readOpusFile(t, mediaDir+"/tone-a.opus"), readOpusFile(t, mediaDir+"/tone-c.opus")}
	video := readIVFFile(t, mediaDir+"/clip.ivf")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i, p := range players {
		u, err := s.vs.JoinUser(s.guild.ID, room.ID, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if _, err := u.SendOpus(ctx, audio[i], voiceserver.SendOptions{}); err != nil {
				errs <- err
			}
			if i == 1 {
				if _, err := u.SendVP8(ctx, video, voiceserver.SendOptions{}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := s.waitStatus("every packet received", 10*time.Second, func(st voicectl.Status) bool {
		got := map[string]voicectl.Member{}
		for _, m := range st.Members {
			got[m.UserID] = m
		}
		return got[players[0].ID].AudioPackets == uint64(len(audio[0])) && got[players[1].ID].AudioPackets == uint64(len(audio[1])) &&
			got[players[1].ID].VideoFrames == uint64(len(video))
	})
	for _, m := range st.Members {
		if !m.InCall || m.AudioLost != 0 {
			t.Fatalf("member %+v", m)
		}
	}

	st, err := s.client.StopRecording(context.Background())
	if err != nil || st.LastRecording == nil {
		t.Fatalf("stop recording: %v %+v", err, st)
	}
	rec := st.LastRecording
	if rec.Dir != "round-1" || len(rec.Members) != 2 || rec.Error != "" || rec.Truncated {
		t.Fatalf("recording %+v", rec)
	}
	for i, m := range rec.Members {
		if m.UserID != players[i].ID || m.AudioFile != "round-1/"+players[i].ID+".opus" {
			t.Fatalf("member %d: %+v", i, m)
		}
		if got := readOpusFile(t, filepath.Join(s.recordings, m.AudioFile)); !samePackets(got, audio[i]) {
			t.Fatalf("%s holds %d packets, not the %d sent", m.AudioFile, len(got), len(audio[i]))
		}
	}
	if v := rec.Members[1].VideoFile; v != "round-1/"+players[1].ID+".ivf" {
		t.Fatalf("video file %q", v)
	} else if got := readIVFFile(t, filepath.Join(s.recordings, v)); !samePackets(got, video) {
		t.Fatalf("%s holds %d frames, not the %d sent", v, len(got), len(video))
	}
	if rec.Members[0].VideoFile != "" {
		t.Fatalf("a video file for a member who sent none: %+v", rec.Members[0])
	}
	if v := s.worker.metric("coven_worker_voice_packets_received_total"); v < float64(len(audio[0])+len(audio[1])) {
		t.Fatalf("coven_worker_voice_packets_received_total %v", v)
	}
}
