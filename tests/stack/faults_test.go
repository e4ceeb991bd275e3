package stack

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/internal/edgetest"
)

// voiceEvents counts the voice events among frames.
func voiceEvents(v *viewer) int {
	n := 0
	for _, f := range v.events {
		if strings.HasPrefix(f.Type, "voice.") {
			n++
		}
	}
	return n
}

func producedVoice(w *workerProc) float64 {
	return w.metric(`coven_worker_events_produced_total{type="voice.joined"}`) +
		w.metric(`coven_worker_events_produced_total{type="voice.updated"}`) +
		w.metric(`coven_worker_events_produced_total{type="voice.left"}`)
}

// TestEdgeDownThenBack stops the edge (SIGSTOP: it accepts connections and answers nothing) for
// about ten seconds while voice events flow. Once it is back, a browser that stayed connected gets
// every event once, in order, with no snapshot in place of any of them.
func TestEdgeDownThenBack(t *testing.T) {
	s := newStack(t, stackOptions{workerArgs: []string{"-delivery-timeout", "1s"}})
	tr := newTraffic(s, 12, 3)
	s.worker.waitReady(20 * time.Second)
	v := s.connect(nil)
	v.waitFor(s, 10*time.Second)
	before := len(v.events)

	if err := syscall.Kill(s.edge.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	t.Cleanup(func() {
		if stopped {
			syscall.Kill(s.edge.Pid(), syscall.SIGCONT)
		}
	})
	tr.run(context.Background(), t, 100, 10, nil) // ten seconds
	if p := s.worker.metric("coven_worker_outbox_pending_events"); p == 0 {
		t.Fatal("nothing pending while the edge is down")
	}
	if a := s.worker.metric(`coven_worker_delivery_attempts_total{result="error"}`); a == 0 {
		t.Fatal("no failed delivery attempt while the edge is down")
	}
	if err := syscall.Kill(s.edge.Pid(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false

	v.waitFor(s, 20*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for s.worker.metric("coven_worker_outbox_pending_events") > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	for float64(voiceEvents(v)) < producedVoice(s.worker) && time.Now().Before(deadline) {
		select {
		case f := <-v.c.Frames:
			if err := v.apply(f); err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Millisecond):
		}
	}
	if got, want := voiceEvents(v), producedVoice(s.worker); float64(got) != want {
		t.Fatalf("the browser got %d voice events, the worker produced %v", got, want)
	}
	for _, f := range v.events[before:] {
		if f.Type == string(event.Snapshot) {
			t.Fatalf("a snapshot replaced events during the outage: %s", f.Raw)
		}
	}
	if s.worker.metric("coven_worker_events_superseded_total") != 0 || s.worker.metric("coven_worker_dead_letters") != 0 {
		t.Fatal("events were superseded or dead-lettered")
	}
	// The requests the worker abandoned while the edge was stopped are not errors of the edge.
	for _, line := range strings.Split(s.edge.Logs.String(), "\n") {
		if strings.Contains(line, `"level":"error"`) && strings.Contains(line, "context canceled") {
			t.Fatalf("the edge logged an abandoned request as an error: %s", line)
		}
	}
}

// TestEdgeKilledRepeatedly kills the edge (kill -9, losing its in-memory state) three times while
// about a thousand voice events flow. Each edge lifetime applies every event it gets once and in
// order (a browser connected to it sees a gapless stream), and the last one ends in the emulator's
// state.
func TestEdgeKilledRepeatedly(t *testing.T) {
	s := newStack(t, stackOptions{})
	tr := newTraffic(s, 30, 4)
	s.worker.waitReady(20 * time.Second)
	v := s.connect(nil)
	kills := map[int]bool{250: true, 500: true, 750: true}
	tr.run(context.Background(), t, 1000, 200, func(i int) {
		if kills[i] {
			s.edge.Restart()
			// The old stream ended with the edge; a new browser follows the new edge.
			v = s.connect(nil)
		}
	})
	v.waitFor(s, 30*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for s.worker.metric("coven_worker_outbox_pending_events") > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if p := s.worker.metric("coven_worker_outbox_pending_events"); p != 0 {
		t.Fatalf("%v events still pending", p)
	}
	if d := s.worker.metric("coven_worker_events_dead_lettered_total"); d != 0 {
		t.Fatalf("%v events dead-lettered", d)
	}
	if r := s.worker.metric(`coven_worker_snapshots_total{reason="snapshot_required"}`); r < 3 {
		t.Fatalf("%v snapshots on the edge's request after 3 restarts", r)
	}
	produced := s.worker.metric("coven_worker_events_produced_total")
	accounted := s.worker.metric("coven_worker_events_delivered_total") + s.worker.metric("coven_worker_events_superseded_total")
	if accounted < produced {
		t.Fatalf("%v events produced, %v delivered or superseded", produced, accounted)
	}
}

// TestEdgeRestartedWhileDiscordIsQuiet kills the edge (kill -9) while nothing happens in Discord.
// The restarted edge holds nothing: a browser is never shown that as an empty world (its hello says
// the state is unknown, or already carries the rooms), and the worker's next keepalive brings the rooms
// without any change in Discord.
func TestEdgeRestartedWhileDiscordIsQuiet(t *testing.T) {
	s := newStack(t, stackOptions{})
	tr := newTraffic(s, 6, 2)
	s.worker.waitReady(20 * time.Second)
	tr.run(context.Background(), t, 10, 200, nil)
	v := s.connect(nil)
	v.waitFor(s, 20*time.Second)

	s.edge.Restart()
	after := s.connect(nil)
	switch h := after.hello; {
	case h.State == "unknown":
		if h.Snapshot != nil || h.Epoch != "" {
			t.Fatalf("a hello with an unknown state carries a position or a snapshot: %s", h.Raw)
		}
	case h.Snapshot == nil || len(after.rooms) == 0:
		t.Fatalf("the restarted edge presented an empty world as real: %s", h.Raw)
	}
	after.waitFor(s, 20*time.Second) // the keepalive (1 s here) is answered 409; the snapshot follows
	if r := s.worker.metric(`coven_worker_snapshots_total{reason="snapshot_required"}`); r < 1 {
		t.Fatalf("%v snapshots on the edge's request", r)
	}
}

// TestWorkerKilledMidStream kills the worker (kill -9) in the middle of a stream of voice events
// and starts it again on the same outbox. A browser connected throughout sees one epoch without a
// gap or a repeat, and ends in the emulator's state.
func TestWorkerKilledMidStream(t *testing.T) {
	s := newStack(t, stackOptions{})
	tr := newTraffic(s, 20, 3)
	s.worker.waitReady(20 * time.Second)
	v := s.connect(nil)
	epoch := v.hello.Epoch
	tr.run(context.Background(), t, 600, 200, func(i int) {
		if i == 300 {
			s.worker.Kill()
			s.worker = s.startWorker(edgetest.BotToken)
		}
	})
	v.waitFor(s, 30*time.Second)
	for _, f := range v.events {
		if f.Epoch != epoch {
			t.Fatalf("event of epoch %s, the outbox's is %s: the outbox did not survive", f.Epoch, epoch)
		}
	}
	// The restarted worker resumes its session, or identifies when it died between the save of
	// its session and the append to the outbox that follows.
	if st := s.emu.Stats(); st.Identifies+st.Resumes < 2 {
		t.Fatalf("%d identifies, %d resumes: the restarted worker did not connect", st.Identifies, st.Resumes)
	}
}

// TestGatewayFaults injects gateway faults into a running worker's session, one after another: the
// session comes back each time and the browser's state follows the emulator's.
func TestGatewayFaults(t *testing.T) {
	s := newStack(t, stackOptions{heartbeat: 100 * time.Millisecond})
	tr := newTraffic(s, 6, 2)
	s.worker.waitReady(20 * time.Second)
	v := s.connect(nil)
	cases := []struct {
		name  string
		fault func(id string) error
		// counter is the emulator counter that must grow: resumes or identifies.
		counter func(discordtest.Stats) int64
	}{
		{"op 7 reconnect", func(id string) error { return s.emu.SendReconnect(id) }, func(st discordtest.Stats) int64 { return st.Resumes }},
		{"op 9 invalid session", func(id string) error { return s.emu.SendInvalidSession(id, false) }, func(st discordtest.Stats) int64 { return st.Identifies }},
		{"zombie: heartbeats unanswered", func(id string) error { return s.emu.SetHeartbeatACKs(id, false) }, func(st discordtest.Stats) int64 { return st.Identifies + st.Resumes }},
		{"dropped TCP connection", func(id string) error { return s.emu.DropConnection(id) }, func(st discordtest.Stats) int64 { return st.Resumes }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := c.counter(s.emu.Stats())
			if err := c.fault(s.session()); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(15 * time.Second)
			for c.counter(s.emu.Stats()) == before {
				if time.Now().After(deadline) {
					t.Fatal("the session did not come back")
				}
				time.Sleep(10 * time.Millisecond)
			}
			for i := 0; i < 5; i++ {
				tr.step(t)
			}
			v.waitFor(s, 15*time.Second)
		})
	}
}

// TestFatalCloseCodesEndTheWorker checks that authentication failures stop the worker with exit
// status 3 and a clear message, instead of a reconnection loop.
func TestFatalCloseCodesEndTheWorker(t *testing.T) {
	t.Run("invalid token", func(t *testing.T) {
		s := newStack(t, stackOptions{token: "MTIz.wrong.token-of-nobody"})
		if code := s.worker.exitCode(15 * time.Second); code != 3 {
			t.Fatalf("exit status %d, want 3", code)
		}
		logs := s.worker.logs.String()
		if !strings.Contains(logs, "code 4004 (authentication failed") || strings.Contains(logs, "token-of-nobody") {
			t.Fatalf("logs do not explain the stop, or name the token:\n%s", tail(logs, 4096))
		}
		if n := s.emu.Stats().GatewayConnections; n != 1 {
			t.Fatalf("%d gateway connections, want 1: no reconnection after 4004", n)
		}
	})
	t.Run("4004 on a running session", func(t *testing.T) {
		s := newStack(t, stackOptions{})
		s.worker.waitReady(20 * time.Second)
		v := s.connect(nil)
		if err := s.emu.CloseSession(s.session(), 4004, "Authentication failed."); err != nil {
			t.Fatal(err)
		}
		if code := s.worker.exitCode(15 * time.Second); code != 3 {
			t.Fatalf("exit status %d, want 3", code)
		}
		if !strings.Contains(s.worker.logs.String(), "code 4004") {
			t.Fatal("the logs do not name the close code")
		}
		f := v.expect(event.SystemStatus, 10*time.Second)
		if st := statusOf(t, f.Data); st != event.DiscordDown {
			t.Fatalf("the worker said %s on its way out, want down", st)
		}
	})
}
