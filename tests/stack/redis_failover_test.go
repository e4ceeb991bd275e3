package stack

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub/redisbroker/redistest"
	"github.com/spellcoven/gateway/internal/edgetest"
)

// Redis that fails over: the worker posts to one edge, a second edge shares its Redis, and two
// browsers watch each. A fault is injected in the middle of a thousand voice events; every browser
// must end with the emulator's state, having got every event once, in order, without a snapshot in
// place of any and without being closed.

// streamAcrossEdges runs the scenario on a stack whose edge's broker is given by global, injecting
// fault before the 250th action, and returns the stack once every browser has checked out.
func streamAcrossEdges(t *testing.T, global string, fault func()) *stack {
	t.Helper()
	// What the worker holds back during the fault reaches the browsers in one burst: a queue that holds
	// it keeps them connected (docs/scaling.md; with the default 256, they are evicted and resume).
	s := newStack(t, stackOptions{edgeGlobal: "queue_length 2048\n\t\t" + global, heartbeat: time.Second})
	cfg := s.edge.Cfg
	cfg.HTTPPort = 0
	other := edgetest.Start(t, cfg)
	tr := newTraffic(s, 30, 4)
	s.worker.waitReady(20 * time.Second)
	var viewers []*viewer
	for _, e := range []*edgetest.Edge{s.edge, other, s.edge, other} {
		v := s.connectTo(e, nil)
		v.waitFor(s, 10*time.Second)
		viewers = append(viewers, v)
	}
	epoch := viewers[0].pos.Epoch
	tr.run(context.Background(), t, 1000, 100, func(i int) {
		if i == 250 {
			fault()
		}
	})
	for _, v := range viewers {
		v.waitFor(s, 60*time.Second)
	}
	drained(t, s, 30*time.Second)
	produced := producedVoice(s.worker)
	for i, v := range viewers {
		if got := float64(voiceEvents(v)); got != produced {
			t.Errorf("browser %d got %v voice events, the worker produced %v", i, got, produced)
		}
		if v.pos.Epoch != epoch {
			t.Errorf("browser %d: the epoch changed from %s to %s", i, epoch, v.pos.Epoch)
		}
		for _, f := range v.events {
			if f.Type == string(event.Snapshot) {
				t.Errorf("browser %d got a snapshot in place of events: %s", i, f.Raw)
				break
			}
		}
		if got := strings.Join(v.brokerStatus, ","); got != "unavailable,ok" {
			t.Errorf("browser %d was told the broker was %q, want unavailable,ok", i, got)
		}
		select {
		case <-v.c.Closed:
			t.Errorf("browser %d was disconnected: %v", i, v.c.Err)
		default:
		}
	}
	assertNothingSuperseded(t, s)
	return s
}

// TestSentinelFailoverAcrossEdges kills the Redis primary (kill -9) mid-stream. Three sentinels
// promote its replica; both edges follow them; the worker's outbox keeps the batches refused (503)
// meanwhile and delivers them once the new primary takes writes.
func TestSentinelFailoverAcrossEdges(t *testing.T) {
	sn := redistest.StartSentinel(t, time.Second)
	global := "broker redis {\n\t\t\tsentinel " + redistest.MasterName + " " + strings.Join(sn.Addrs(), " ") + "\n\t\t}"
	s := streamAcrossEdges(t, global, sn.Primary.Stop)
	sn.WaitPromoted()
	if retried := s.worker.metric(`coven_worker_delivery_attempts_total{result="retry"}`); retried == 0 {
		t.Error("no delivery was refused and retried during the failover")
	}
}

// TestClusterAcrossEdges runs the stream on a Redis Cluster of three primaries, and restarts the node
// that holds the deployment's slot (empty: it keeps its slots, not its data) mid-stream: the edges
// write their state back and the worker's retries continue it.
func TestClusterAcrossEdges(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	global := "broker redis {\n\t\t\tcluster " + cl.Addrs()[0] + "\n\t\t}"
	streamAcrossEdges(t, global, func() {
		cl.Owner("{coven:}head").Restart()
	})
}
