package redisbroker

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
	"github.com/spellcoven/gateway/hub/redisbroker/redistest"
)

// streamThrough ingests a snapshot and then n events through instances in turn, one event per batch
// and retried while refused (as the worker does), calling fault before event at; it then checks that
// each client got every event once, in order, without being closed.
func streamThrough(t *testing.T, ins []*instance, n, at int, fault func()) {
	t.Helper()
	s := newStory(t, "e1")
	ins[0].ingest(t, s.snapshot())
	for _, in := range ins {
		in.waitPosition(t, event.Position{Epoch: "e1", Seq: 1})
	}
	var clients []*client
	for _, in := range ins {
		clients = append(clients, in.subscribe(t, nil), in.subscribe(t, nil))
	}
	for i := range n {
		if i == at {
			fault()
		}
		ins[i%len(ins)].ingestRetrying(t, s.events(1)...)
	}
	last := uint64(n + 1)
	for i, c := range clients {
		frames := c.waitEvents(t, last)
		if got := eventSeqs(frames); !reflect.DeepEqual(got, seqRange(2, last)) {
			t.Errorf("client %d got %d events (%v...), want seqs 2-%d once each, in order", i, len(got), got[:min(len(got), 10)], last)
		}
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed != 0 {
			t.Errorf("client %d was closed with %d", i, closed)
		}
	}
}

// TestSentinelFailoverLosesNothing kills the primary (kill -9) in the middle of a stream into two
// instances that find it through three sentinels: the sentinels promote the replica, the instances
// follow them, the batches refused meanwhile are taken when retried, and every client gets every
// event once, in order.
func TestSentinelFailoverLosesNothing(t *testing.T) {
	sn := redistest.StartSentinel(t, time.Second)
	cfg := Config{Sentinel: &Sentinel{MasterName: redistest.MasterName, Addrs: sn.Addrs()}, ReconnectInterval: 200 * time.Millisecond}
	a := startInstance(t, nil, cfg, hub.Config{})
	b := startInstance(t, nil, cfg, hub.Config{})
	streamThrough(t, []*instance{a, b}, 1000, 300, sn.Primary.Stop)
	sn.WaitPromoted()
}

// TestClusterLosesNothing streams through two instances on a Redis Cluster of three primaries; every
// script runs in the one slot of the keys' hash tag. Mid-stream the node that holds that slot restarts
// empty (it keeps its slots): the instances write their state back, as with one primary.
func TestClusterLosesNothing(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	cfg := Config{Cluster: &Cluster{Addrs: cl.Addrs()[:1]}, ReconnectInterval: 200 * time.Millisecond}
	a := startInstance(t, nil, cfg, hub.Config{})
	b := startInstance(t, nil, cfg, hub.Config{})
	streamThrough(t, []*instance{a, b}, 1000, 300, func() {
		cl.Owner(a.broker.keys.head).Restart()
	})
	// Every key of the broker is in one slot, on one node.
	for _, key := range a.broker.keys.list() {
		if got, want := keySlot(t, a.broker, key), keySlot(t, a.broker, a.broker.keys.head); got != want {
			t.Errorf("key %s is in slot %d, the head in %d", key, got, want)
		}
	}
}

// keySlot returns the cluster slot of key.
func keySlot(t *testing.T, b *Broker, key string) int64 {
	t.Helper()
	n, err := b.Client().(*redis.ClusterClient).ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
