package stack

import (
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/internal/edgetest"
)

// TestWorkerKilledResumesItsSession kills the worker (kill -9) while Discord is quiet, makes
// changes in Discord while it is dead, and starts it again within 2 s on the same outbox. The
// restarted worker resumes its gateway session instead of identifying: a browser connected
// throughout gets every change of the gap as its own event, in order, and reaches Discord's state
// before any snapshot.
func TestWorkerKilledResumesItsSession(t *testing.T) {
	// Heartbeats a second apart: a loaded machine does not make the worker take its connection for
	// a dead one (a zombie) in the middle of the test.
	s := newStack(t, stackOptions{heartbeat: time.Second})
	tr := newTraffic(s, 12, 3)
	s.worker.waitReady(20 * time.Second)
	for range 20 {
		tr.step(t)
	}
	v := s.connect(nil)
	v.waitFor(s, 20*time.Second)
	identifies := s.emu.Stats().Identifies
	before := len(v.events)

	s.worker.Kill()
	killed := time.Now()
	for range 40 {
		tr.step(t)
	}
	s.worker = s.startWorker(edgetest.BotToken)
	if gap := time.Since(killed); gap > 2*time.Second {
		t.Fatalf("the worker was down %v, more than 2 s", gap)
	}
	v.waitFor(s, 30*time.Second)
	voice := 0
	for _, f := range v.events[before:] {
		switch {
		case f.Type == string(event.Snapshot):
			t.Fatalf("a snapshot came before the gap's events were all delivered (%d voice events so far): %s", voice, f.Raw)
		case f.Type == string(event.VoiceJoined) || f.Type == string(event.VoiceLeft) || f.Type == string(event.VoiceUpdated):
			voice++
		}
	}
	if voice < 40 {
		t.Fatalf("%d voice events for 40 changes", voice)
	}
	st := s.emu.Stats()
	if st.Identifies != identifies || st.Resumes < 1 {
		t.Fatalf("%d identifies (%d before), %d resumes: the restarted worker did not resume", st.Identifies, identifies, st.Resumes)
	}
	s.worker.waitReady(20 * time.Second)
}

// TestIdentifyStorm restarts the worker at once, again and again (each as soon as it is ready), then invalidates its session
// twice in a row, against a gateway that allows one identify per 5 s (as Discord does). The worker
// resumes after each restart, and after each op 9 it waits before identifying: the identifies and
// invalid sessions stay few, where an identify on every op 9 makes hundreds.
func TestIdentifyStorm(t *testing.T) {
	s := newStack(t, stackOptions{identifyConcurrency: 1, heartbeat: time.Second})
	s.worker.waitReady(20 * time.Second)
	for range 5 {
		s.worker.Kill()
		s.worker = s.startWorker(edgetest.BotToken)
		s.worker.waitReady(30 * time.Second)
	}
	for range 2 {
		if err := s.emu.SendInvalidSession(s.session(), false); err != nil {
			t.Fatal(err)
		}
		s.worker.waitReady(30 * time.Second)
	}
	st := s.emu.Stats()
	if attempts := st.Ops[2]; attempts > 8 || st.InvalidSession > 8 || st.ServerCloseCodes[4008] > 0 {
		t.Fatalf("%d identifies sent, %d invalid sessions, %d closes 4008: an identify storm", attempts, st.InvalidSession, st.ServerCloseCodes[4008])
	}
	if st.Resumes < 5 {
		t.Fatalf("%d resumes after 5 restarts", st.Resumes)
	}
}
