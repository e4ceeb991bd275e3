package redisbroker

import (
	"context"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
	"github.com/spellcoven/gateway/hub/redisbroker/redistest"
)

// TestUpgradeWithoutRenamingTheKeys: an instance that finds only the keys of edges from before hash
// tags (coven:head, not {coven:}head) starts empty and says how to keep them; once they are renamed as
// docs/scaling.md shows, an instance restores from them.
func TestUpgradeWithoutRenamingTheKeys(t *testing.T) {
	srv := redistest.Start(t)
	old := startInstance(t, srv, Config{}, hub.Config{})
	s := newStory(t, "e1")
	old.ingest(t, append([]event.Event{s.snapshot()}, s.events(5)...)...)
	ctx := context.Background()
	c := old.broker.Client()
	for _, k := range []string{"head", "stream", "checkpoint"} {
		if err := c.Rename(ctx, "{coven:}"+k, "coven:"+k).Err(); err != nil {
			t.Fatalf("making the keys of an edge from before hash tags: %v", err)
		}
	}

	core, logs := observer.New(zap.WarnLevel)
	b, err := New(Config{URL: srv.URL()}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	sink := &signalSink{applied: make(chan event.Position, 16)}
	detach, err := b.Attach(ctx, sink)
	if err != nil {
		t.Fatal(err)
	}
	detach()
	if pos := sink.State().Position; !pos.IsZero() {
		t.Fatalf("restored %v from keys it should not read", pos)
	}
	if got := logs.FilterMessageSnippet("rename the keys").FilterField(zap.String("old_key", "coven:head")).Len(); got != 1 {
		t.Fatalf("%d warnings naming coven:head; logs: %v", got, logs.All())
	}

	for _, k := range []string{"head", "stream", "checkpoint"} {
		if err := c.Rename(ctx, "coven:"+k, "{coven:}"+k).Err(); err != nil {
			t.Fatal(err)
		}
	}
	renamed := startInstance(t, srv, Config{}, hub.Config{})
	renamed.waitPosition(t, event.Position{Epoch: "e1", Seq: 6})
}
