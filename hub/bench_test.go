package hub

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/spellcoven/gateway/event"
)

// deliveryCounter lets a benchmark wait until a number of frames has been written.
type deliveryCounter struct {
	remaining atomic.Int64
	done      chan struct{}
}

func newDeliveryCounter() *deliveryCounter { return &deliveryCounter{done: make(chan struct{}, 1)} }

func (d *deliveryCounter) expect(n int64) { d.remaining.Store(n) }

func (d *deliveryCounter) wrote(frames int64) {
	if d.remaining.Add(-frames) == 0 {
		d.done <- struct{}{}
	}
}

func (d *deliveryCounter) wait() { <-d.done }

// discardConn is a socket that accepts every write at once.
type discardConn struct{ counter *deliveryCounter }

func (c discardConn) Write(_ context.Context, msg []byte) error {
	c.counter.wrote(int64(bytes.Count(msg, []byte{'\n'}) + 1))
	return nil
}

func (discardConn) Close(int, string) {}

// benchRooms returns rooms ids 11.. with members users 1001.., perRoom members each.
func benchRooms(rooms, perRoom int) []event.RoomState {
	out := make([]event.RoomState, rooms)
	for i := range out {
		out[i] = event.RoomState{Room: event.Room{ID: fmt.Sprint(11 + i), Name: fmt.Sprintf("Table %d", i), Position: i}}
		for j := range perRoom {
			m := member(fmt.Sprint(1001 + i*perRoom + j))
			m.GlobalName, m.Avatar = "Some Player", "a_0123456789abcdef0123456789abcdef"
			out[i].Members = append(out[i].Members, m)
		}
	}
	return out
}

// voiceUpdates returns n voice.updated events from seq, toggling a member's mute as the worker sends
// them during play: the most frequent event.
func voiceUpdates(b testing.TB, epoch string, seq uint64, n int) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		m := member("1001")
		m.GlobalName, m.Avatar = "Some Player", "a_0123456789abcdef0123456789abcdef"
		m.SelfMute = i%2 == 0
		out[i] = mustEvent(b, epoch, seq+uint64(i), event.VoiceUpdated, &event.VoiceMemberPayload{RoomID: "11", Member: m})
	}
	return out
}

// fanoutHub returns a running hub holding a snapshot, with subs subscribers writing to discardConns
// whose opening hellos are already written.
func fanoutHub(b *testing.B, subs int) (*Hub, *deliveryCounter) {
	h := startHub(b, Config{}, nil)
	mustIngest(b, h, snapshotEvent(b, "e1", 1, benchRooms(10, 5)...))
	counter := newDeliveryCounter()
	counter.expect(int64(subs))
	for range subs {
		subscribe(b, h, nil, discardConn{counter})
	}
	counter.wait()
	return h, counter
}

// BenchmarkFanout measures handing one event to 1000 subscribers whose sockets take every write:
// an op is one event written to all of them; ns/delivery and allocs/delivery divide by 1000.
func BenchmarkFanout(b *testing.B) {
	const subs = 1000
	b.Run("ingest", func(b *testing.B) {
		h, counter := fanoutHub(b, subs)
		batches := make([]*event.Batch, b.N)
		for i, e := range voiceUpdates(b, "e1", 2, b.N) {
			batches[i] = batchOf(e)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			counter.expect(subs)
			if _, err := h.Ingest(context.Background(), batches[i]); err != nil {
				b.Fatal(err)
			}
			counter.wait()
		}
		reportPerDelivery(b, subs)
	})
	// The delivery path alone, from the broker's Apply on: no allocation at all in steady state.
	b.Run("deliver", func(b *testing.B) {
		h, counter := fanoutHub(b, subs)
		records := make([][]*Record, b.N)
		for i, e := range voiceUpdates(b, "e1", 2, b.N) {
			r, err := NewRecord(&e)
			if err != nil {
				b.Fatal(err)
			}
			records[i] = []*Record{r}
		}
		sink := (*hubSink)(h)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			counter.expect(subs)
			sink.Apply(records[i])
			counter.wait()
		}
		reportPerDelivery(b, subs)
	})
	// Bursts of 16 events ingested one by one, as fast as they come: subscribers fall behind and
	// get several frames per write.
	b.Run("burst16", func(b *testing.B) {
		const burst = 16
		h, counter := fanoutHub(b, subs)
		events := voiceUpdates(b, "e1", 2, b.N*burst)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			counter.expect(subs * burst)
			for _, e := range events[i*burst : (i+1)*burst] {
				if _, err := h.Ingest(context.Background(), batchOf(e)); err != nil {
					b.Fatal(err)
				}
			}
			counter.wait()
		}
		b.StopTimer()
		reportPerDelivery(b, subs*burst)
		st := h.Stats()
		b.ReportMetric(float64(st.Delivered)/float64(st.Messages), "frames/write")
	})
}

func reportPerDelivery(b *testing.B, deliveries int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*deliveries), "ns/delivery")
}

// BenchmarkIngestBatch measures applying batches of 100 voice.updated events (decode of the typed
// payload, canonical encoding, sequencing, projection, history) with no subscriber.
func BenchmarkIngestBatch(b *testing.B) {
	const size = 100
	h := startHub(b, Config{}, nil)
	mustIngest(b, h, snapshotEvent(b, "e1", 1, benchRooms(10, 5)...))
	all := voiceUpdates(b, "e1", 2, b.N*size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := h.Ingest(context.Background(), batchOf(all[i*size:(i+1)*size]...)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkSnapshotHello measures encoding the hello of a client that cannot resume, done once per
// position and shared by every client connecting at it.
func BenchmarkSnapshotHello(b *testing.B) {
	for _, size := range []struct{ rooms, members int }{{10, 5}, {100, 10}, {500, 20}} {
		b.Run(fmt.Sprintf("rooms=%d/members=%d", size.rooms, size.members), func(b *testing.B) {
			p := newProjection()
			p.replace(&event.SnapshotPayload{Rooms: benchRooms(size.rooms, size.members)})
			pos := event.Position{Epoch: "e1", Seq: 1}
			b.ReportAllocs()
			var n int
			for b.Loop() {
				frame, err := encodeSnapshotHello(pos, p.snapshot())
				if err != nil {
					b.Fatal(err)
				}
				n = len(frame)
			}
			b.SetBytes(int64(n))
		})
	}
}

// BenchmarkIdleSubscription reports the heap an idle subscription holds once its hello is written.
func BenchmarkIdleSubscription(b *testing.B) {
	const subs = 10000
	for b.Loop() {
		b.StopTimer()
		h := startHub(b, Config{}, nil)
		mustIngest(b, h, snapshotEvent(b, "e1", 1, benchRooms(10, 5)...))
		counter := newDeliveryCounter()
		counter.expect(subs)
		conn := discardConn{counter}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		kept := make([]*Subscription, subs)
		for i := range kept {
			s, err := h.Subscribe(nil, conn)
			if err != nil {
				b.Fatal(err)
			}
			kept[i] = s
		}
		counter.wait()
		b.StopTimer()
		// Let the shard workers register every subscription, then measure what stays.
		mustIngest(b, h, voiceUpdates(b, "e1", 2, 1)...)
		counter.expect(subs)
		counter.wait()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/subs, "B/idle-sub")
		runtime.KeepAlive(kept)
		h.Close()
		b.StartTimer()
	}
}
