package stack

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/internal/edgetest"
	"github.com/spellcoven/gateway/worker/workertest"
)

// viewer is a browser: a stream client and the state it builds from the hello and the events,
// as the web client library does.
type viewer struct {
	t     testing.TB
	c     *edgetest.Client
	hello edgetest.Frame
	rooms map[string]*event.RoomState
	pos   event.Position
	// events are every event frame received, in order.
	events []edgetest.Frame
	// brokerStatus lists what the edge's status frames said of its broker, in order.
	brokerStatus []string
}

// take handles a frame that is not an event: a pong is dropped, a status frame recorded. It reports
// whether it took f.
func (v *viewer) take(f edgetest.Frame) bool {
	switch f.Type {
	case "pong":
		return true
	case "status":
		v.brokerStatus = append(v.brokerStatus, f.Broker)
		return true
	}
	return false
}

// connect opens a stream to the stack's edge, authenticates, and reads the hello.
func (s *stack) connect(resume *event.Position) *viewer {
	s.t.Helper()
	return s.connectTo(s.edge, resume)
}

// connectTo opens a stream to edge e (the stack's or another sharing its Redis), authenticates, and
// reads the hello.
func (s *stack) connectTo(e *edgetest.Edge, resume *event.Position) *viewer {
	t := s.t
	t.Helper()
	c, _, err := edgetest.Dial(t, e, edgetest.DialOptions{Origin: edgetest.Origin})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.idp.MintFor("viewer", edgetest.Audience, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Auth(tok, resume)
	v := &viewer{t: t, c: c, rooms: map[string]*event.RoomState{}}
	v.hello = c.Hello()
	v.pos = event.Position{Epoch: v.hello.Epoch, Seq: v.hello.Seq}
	if !v.hello.Resumed && v.hello.Snapshot != nil {
		var snap event.SnapshotPayload
		if err := json.Unmarshal(*v.hello.Snapshot, &snap); err != nil {
			t.Fatalf("hello snapshot: %v", err)
		}
		v.replace(snap)
	}
	return v
}

func (v *viewer) replace(snap event.SnapshotPayload) {
	v.rooms = map[string]*event.RoomState{}
	for i := range snap.Rooms {
		rs := snap.Rooms[i]
		v.rooms[rs.ID] = &rs
	}
}

// next reads the next event frame (skipping pongs) and applies it.
func (v *viewer) next(d time.Duration) edgetest.Frame {
	v.t.Helper()
	for {
		f := v.c.Next(d)
		if v.take(f) {
			continue
		}
		if f.Type == "error" || f.Type == "hello" {
			v.t.Fatalf("unexpected frame %s", f.Raw)
		}
		if err := v.apply(f); err != nil {
			v.t.Fatal(err)
		}
		return f
	}
}

// apply applies one event frame, checking that it continues the stream.
func (v *viewer) apply(f edgetest.Frame) error {
	if f.Epoch == v.pos.Epoch && f.Seq != v.pos.Seq+1 {
		return fmt.Errorf("event %s/%d after %s: not the next one", f.Epoch, f.Seq, v.pos)
	}
	if f.Epoch != v.pos.Epoch && f.Type != string(event.Snapshot) {
		return fmt.Errorf("event of epoch %s after %s is not a snapshot", f.Epoch, v.pos)
	}
	v.pos = event.Position{Epoch: f.Epoch, Seq: f.Seq}
	v.events = append(v.events, f)
	e := event.Event{V: event.Version, Type: event.Type(f.Type), Data: f.Data}
	p, err := e.Payload()
	if err != nil {
		return fmt.Errorf("event %s: %v", f.Raw, err)
	}
	switch d := p.(type) {
	case *event.SnapshotPayload:
		v.replace(*d)
	case *event.RoomPayload:
		rs := v.rooms[d.Room.ID]
		if rs == nil {
			rs = &event.RoomState{Members: []event.Member{}}
			v.rooms[d.Room.ID] = rs
		}
		rs.Room = d.Room
	case *event.RoomDeletedPayload:
		delete(v.rooms, d.RoomID)
	case *event.VoiceMemberPayload:
		rs := v.rooms[d.RoomID]
		if rs == nil {
			return fmt.Errorf("%s for unknown room %s", f.Type, d.RoomID)
		}
		for i := range rs.Members {
			if rs.Members[i].UserID == d.Member.UserID {
				rs.Members[i] = d.Member
				return nil
			}
		}
		rs.Members = append(rs.Members, d.Member)
	case *event.VoiceLeftPayload:
		if rs := v.rooms[d.RoomID]; rs != nil {
			for i := range rs.Members {
				if rs.Members[i].UserID == d.UserID {
					rs.Members = append(rs.Members[:i], rs.Members[i+1:]...)
					break
				}
			}
		}
	}
	return nil
}

// state is the viewer's state as a snapshot.
func (v *viewer) state() event.SnapshotPayload {
	out := event.SnapshotPayload{Rooms: []event.RoomState{}}
	for _, rs := range v.rooms {
		out.Rooms = append(out.Rooms, *rs)
	}
	return out
}

// waitFor reads events until the viewer's state equals the emulator's, failing after d.
func (v *viewer) waitFor(s *stack, d time.Duration) {
	v.t.Helper()
	deadline := time.Now().Add(d)
	for {
		want, err := workertest.Expected(s.emu, s.guild.ID, s.guild.RoomsCategoryID)
		if err != nil {
			v.t.Fatal(err)
		}
		ok, diff := workertest.Equal(v.state(), want)
		if ok {
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			v.t.Fatalf("the viewer's state is not the emulator's after %v:\n%s", d, diff)
		}
		select {
		case f := <-v.c.Frames:
			if !v.take(f) {
				if err := v.apply(f); err != nil {
					v.t.Fatal(err)
				}
			}
		case <-v.c.Closed:
			v.t.Fatalf("stream closed while waiting for the state: %v\n%s", v.c.Err, diff)
		case <-time.After(min(left, 50*time.Millisecond)):
		}
	}
}

// expect reads events until one of type typ arrives and returns it.
func (v *viewer) expect(typ event.Type, d time.Duration) edgetest.Frame {
	v.t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			v.t.Fatalf("no %s within %v", typ, d)
		}
		if f := v.next(left); f.Type == string(typ) {
			return f
		}
	}
}
