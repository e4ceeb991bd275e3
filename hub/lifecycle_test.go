package hub

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
)

func TestCloseClosesEverySubscriberWith1012(t *testing.T) {
	h := startHub(t, Config{Shards: 2}, nil)
	mustIngest(t, h, snapshotEvent(t, "e1", 1))
	var conns []*testConn
	var subs []*Subscription
	for i := range 5 {
		c := newTestConn()
		if i == 0 {
			c = newGatedConn() // one with a write in flight
		}
		conns = append(conns, c)
		subs = append(subs, subscribe(t, h, nil, c))
	}
	conns[0].waitInWrite(t)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		if code, reason := c.waitClosed(t); code != CloseRestarting || reason != "restarting" {
			t.Errorf("subscriber %d closed with %d %q, want %d %q", i, code, reason, CloseRestarting, "restarting")
		}
		if _, _, closes := c.snapshot(); closes != 1 {
			t.Errorf("subscriber %d: Conn.Close called %d times, want once", i, closes)
		}
	}
	if err := subs[1].Send([]byte(`{"type":"pong"}`)); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: err = %v, want ErrClosed", err)
	}
	if _, err := h.Subscribe(nil, newTestConn()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Subscribe after Close: err = %v, want ErrUnavailable", err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if n := h.Stats().Subscribers; n != 0 {
		t.Errorf("Subscribers = %d after Close, want 0", n)
	}
}

func TestSendIsOrderedWithEvents(t *testing.T) {
	h := startHub(t, Config{}, nil)
	mustIngest(t, h, snapshotEvent(t, "e1", 1))
	c := newGatedConn()
	s := subscribe(t, h, nil, c)
	c.waitInWrite(t)
	mustIngest(t, h, roomEvents(t, "e1", 2, 2)...)
	waitQueued(t, s, 1)
	if err := s.Send([]byte(`{"type":"pong"}`)); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, h, roomEvents(t, "e1", 3, 4)...)
	waitQueued(t, s, 4)
	if err := s.Send([]byte(`{"type":"error","code":"x","message":"y"}`)); err != nil {
		t.Fatal(err)
	}
	c.release()
	var got []string
	for _, f := range c.waitFrames(t, 6) {
		got = append(got, f.String())
	}
	want := []string{"hello(resumed=false e1/1)", "room.updated e1/2", "pong", "room.updated e1/3", "room.updated e1/4", "error"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("frames = %v\nwant     %v", got, want)
	}
}

func TestSendEvictsWhenTheQueueIsFull(t *testing.T) {
	h := startHub(t, Config{QueueLength: 2}, nil)
	c := newGatedConn()
	s := subscribe(t, h, nil, c)
	c.waitInWrite(t)
	for i := range 2 {
		if err := s.Send([]byte(`{"type":"pong"}`)); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if err := s.Send([]byte(`{"type":"pong"}`)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send into a full queue: err = %v, want ErrClosed", err)
	}
	if code, _ := c.waitClosed(t); code != CloseTooSlow {
		t.Errorf("closed with %d, want %d", code, CloseTooSlow)
	}
	if err := s.Send([]byte(`{"type":"pong"}`)); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after eviction: err = %v, want ErrClosed", err)
	}
}

func TestSubscriptionCloseStopsDelivery(t *testing.T) {
	h := startHub(t, Config{}, nil)
	mustIngest(t, h, snapshotEvent(t, "e1", 1))
	gone, stays := newTestConn(), newTestConn()
	s := subscribe(t, h, nil, gone)
	subscribe(t, h, nil, stays)
	gone.waitFrames(t, 1)
	s.Close()
	s.Close() // idempotent
	if n := h.Stats().Subscribers; n != 1 {
		t.Errorf("Subscribers = %d, want 1", n)
	}
	mustIngest(t, h, roomEvents(t, "e1", 2, 3)...)
	stays.waitFrames(t, 3)
	if _, frames, closes := gone.snapshot(); len(frames) != 1 || closes != 0 {
		t.Errorf("closed subscription got %d frames and %d closes, want only the hello and no close", len(frames), closes)
	}
}

func TestWriteErrorClosesTheConn(t *testing.T) {
	h := startHub(t, Config{}, nil)
	c := newTestConn()
	c.failWrite = errors.New("broken pipe")
	subscribe(t, h, nil, c)
	if code, _ := c.waitClosed(t); code != closeWriteFailed {
		t.Errorf("closed with %d, want %d", code, closeWriteFailed)
	}
	waitFor(t, "the subscription to close", func() bool { return h.Stats().Subscribers == 0 })
}

func TestSubscribersAreSpreadOverShards(t *testing.T) {
	h := startHub(t, Config{Shards: 3}, nil)
	counts := map[*shard]int{}
	for range 6 {
		s := subscribe(t, h, nil, newTestConn())
		counts[s.shard]++
	}
	if len(counts) != 3 {
		t.Fatalf("subscribers on %d shards, want 3", len(counts))
	}
	for sh, n := range counts {
		if n != 2 {
			t.Errorf("shard %p holds %d subscribers, want 2", sh, n)
		}
	}
}

func TestStartTwiceFails(t *testing.T) {
	h := startHub(t, Config{}, nil)
	if err := h.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
}

func TestStatsAndHealth(t *testing.T) {
	h := startHub(t, Config{}, nil)
	if hl := h.Health(); !hl.OK || hl.Broker != BrokerOK || !hl.LastDelivery.IsZero() {
		t.Errorf("Health of a new hub = %+v", hl)
	}
	c := newTestConn()
	subscribe(t, h, nil, c)
	before := time.Now()
	mustIngest(t, h, snapshotEvent(t, "e1", 1), mustEvent(t, "e1", 2, event.SystemStatus, &event.SystemStatusPayload{Discord: event.DiscordDown}))
	mustIngest(t, h, roomEvents(t, "e1", 2, 3)...) // one held, one new
	c.waitFrames(t, 4)
	waitFor(t, "stats to count every write", func() bool { return h.Stats().Delivered == 4 })

	st := h.Stats()
	st.LastIngest, st.Messages = time.Time{}, 0 // checked below
	want := Stats{Subscribers: 1, Ingested: 3, Skipped: 1, Delivered: 4, Position: event.Position{Epoch: "e1", Seq: 3}}
	if st != want {
		t.Errorf("Stats = %+v\nwant    %+v", st, want)
	}
	if st := h.Stats(); st.LastIngest.Before(before) || st.Messages == 0 || st.Messages > 4 {
		t.Errorf("LastIngest = %v (ingested after %v), Messages = %d", st.LastIngest, before, st.Messages)
	}
	hl := h.Health()
	if !hl.OK || hl.Discord != event.DiscordDown || hl.LastDelivery.Before(before) {
		t.Errorf("Health = %+v", hl)
	}
}

func TestConfigLimits(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" for a valid config
		check   func(Config) bool
	}{
		{"zero fields take defaults", Config{}, "", func(c Config) bool {
			return c.HistorySize == DefaultHistorySize && c.QueueLength == DefaultQueueLength && c.WriteTimeout == DefaultWriteTimeout &&
				c.Shards >= 1 && c.MaxCoalesce == DefaultMaxCoalesce && c.MaxMessageBytes == DefaultMaxMessageBytes
		}},
		{"set fields are kept", Config{HistorySize: 5, QueueLength: 7, WriteTimeout: time.Second, Shards: 3, MaxCoalesce: 2, MaxMessageBytes: 100}, "", func(c Config) bool {
			return c == Config{HistorySize: 5, QueueLength: 7, WriteTimeout: time.Second, Shards: 3, MaxCoalesce: 2, MaxMessageBytes: 100}
		}},
		{"negative HistorySize", Config{HistorySize: -1}, "HistorySize", nil},
		{"negative QueueLength", Config{QueueLength: -1}, "QueueLength", nil},
		{"negative WriteTimeout", Config{WriteTimeout: -time.Second}, "WriteTimeout", nil},
		{"negative Shards", Config{Shards: -2}, "Shards", nil},
		{"negative MaxCoalesce", Config{MaxCoalesce: -1}, "MaxCoalesce", nil},
		{"negative MaxMessageBytes", Config{MaxMessageBytes: -1}, "MaxMessageBytes", nil},
		{"HistorySize above its bound", Config{HistorySize: MaxHistorySize + 1}, "HistorySize", nil},
		{"QueueLength above its bound", Config{QueueLength: MaxQueueLength + 1}, "QueueLength", nil},
		{"Shards above its bound", Config{Shards: MaxShards + 1}, "Shards", nil},
		{"MaxCoalesce above its bound", Config{MaxCoalesce: MaxCoalesce + 1}, "MaxCoalesce", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(tt.cfg, nil, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if !tt.check(h.cfg) {
				t.Errorf("config = %+v", h.cfg)
			}
			if len(h.shards) != h.cfg.Shards || len(h.history.ring) != h.cfg.HistorySize {
				t.Errorf("%d shards and a history of %d for %+v", len(h.shards), len(h.history.ring), h.cfg)
			}
		})
	}
}
