package hub

import (
	"testing"

	"github.com/spellcoven/gateway/event"
)

// TestBrokerStatusIsToldToSubscribers follows a broker outage as clients see it: connected clients
// stay and get a status frame in order with the events, clients connecting during the outage get it
// after their hello, and recovery is told once.
func TestBrokerStatusIsToldToSubscribers(t *testing.T) {
	broker := &fakeBroker{}
	h := startHub(t, Config{}, broker)
	record := func(e event.Event) *Record {
		r, err := NewRecord(&e)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	broker.sink.Apply([]*Record{record(snapshotEvent(t, "e1", 1))})
	before := newTestConn()
	subscribe(t, h, nil, before)

	broker.sink.BrokerStatus(false)
	broker.sink.BrokerStatus(false) // told once
	during := newTestConn()
	subscribe(t, h, &event.Position{Epoch: "e1", Seq: 1}, during)
	broker.sink.Apply([]*Record{record(roomEvents(t, "e1", 2, 2)[0])})
	broker.sink.BrokerStatus(true)
	broker.sink.BrokerStatus(true)
	after := newTestConn()
	subscribe(t, h, &event.Position{Epoch: "e1", Seq: 2}, after)

	for _, tc := range []struct {
		name string
		conn *testConn
		want []string
	}{
		{"connected before the outage", before, []string{"hello(resumed=false e1/1)", "status", "room.updated e1/2", "status"}},
		{"connected during the outage", during, []string{"hello(resumed=true e1/1)", "status", "room.updated e1/2", "status"}},
		{"connected after recovery", after, []string{"hello(resumed=true e1/2)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.conn.waitFrames(t, len(tc.want))
			for i, f := range got {
				if f.String() != tc.want[i] {
					t.Fatalf("frames %v, want %v", got, tc.want)
				}
			}
			statuses := 0
			for _, f := range got {
				if f.Type == "status" {
					want := []string{"unavailable", "ok"}[statuses]
					if f.Broker != want {
						t.Errorf("status frame %d says %q, want %q", statuses+1, f.Broker, want)
					}
					statuses++
				}
			}
			_, frames, _ := tc.conn.snapshot()
			if len(frames) != len(tc.want) {
				t.Errorf("got %d frames %v, want exactly %v", len(frames), frames, tc.want)
			}
		})
	}
	if hl := h.Health(); !hl.OK {
		t.Errorf("Health = %+v after recovery", hl)
	}
}
