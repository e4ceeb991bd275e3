package deadletter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func letter(i int) Letter {
	return Letter{
		ID: fmt.Sprintf("ep1-%d-%d", i, i), At: time.Unix(int64(1000+i), 0).UTC(), Status: 400,
		Code: "invalid_batch", Message: "event: events[0].data.room.name: must not be empty",
		Events: []json.RawMessage{json.RawMessage(fmt.Sprintf(`{"seq":%d}`, i))},
	}
}

func ids(ls []Letter) string {
	var out []string
	for _, l := range ls {
		out = append(out, l.ID)
	}
	return strings.Join(out, ",")
}

func TestPutListReplay(t *testing.T) {
	s, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{3, 1, 2} {
		if err := s.Put(letter(i)); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := s.List()
	if err != nil || ids(ls) != "ep1-1-1,ep1-2-2,ep1-3-3" {
		t.Fatalf("List = %s, %v", ids(ls), err)
	}
	if ls[0].Status != 400 || ls[0].Code != "invalid_batch" || string(ls[0].Events[0]) != `{"seq":1}` {
		t.Fatalf("letter read back as %+v", ls[0])
	}

	if n, err := s.RequestReplay("ep1-2-2"); err != nil || n != 1 {
		t.Fatalf("RequestReplay = %d, %v", n, err)
	}
	if ls, _ := s.List(); ids(ls) != "ep1-1-1,ep1-3-3" {
		t.Fatalf("after replay request List = %s", ids(ls))
	}
	if rs, _ := s.Replays(); ids(rs) != "ep1-2-2" {
		t.Fatalf("Replays = %s", ids(rs))
	}
	if n, _ := s.Count(); n != 3 {
		t.Fatalf("Count = %d, want 3 (replays count until taken)", n)
	}
	if err := s.Return("ep1-2-2"); err != nil {
		t.Fatal(err)
	}
	if ls, _ := s.List(); ids(ls) != "ep1-1-1,ep1-2-2,ep1-3-3" {
		t.Fatalf("after Return List = %s", ids(ls))
	}
	s.RequestReplay("ep1-2-2")
	if err := s.Replayed("ep1-2-2"); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(); n != 2 {
		t.Fatalf("Count after replay = %d", n)
	}
	if n, err := s.RequestReplay(); err != nil || n != 2 {
		t.Fatalf("RequestReplay(all) = %d, %v", n, err)
	}
	if rs, _ := s.Replays(); ids(rs) != "ep1-1-1,ep1-3-3" {
		t.Fatalf("Replays = %s", ids(rs))
	}
}

func TestRefusals(t *testing.T) {
	cases := []struct {
		name string
		do   func(s *Store) error
		msg  string
	}{
		{"unknown id marks nothing", func(s *Store) error { _, err := s.RequestReplay("ep1-1-1", "ep1-9-9"); return err }, `no letter "ep1-9-9"`},
		{"path in an id", func(s *Store) error { _, err := s.RequestReplay("../x"); return err }, "invalid letter id"},
		{"put with a bad id", func(s *Store) error { l := letter(5); l.ID = "a/b"; return s.Put(l) }, "invalid letter id"},
		{"full store", func(s *Store) error { return s.Put(letter(5)) }, "full"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := Open(t.TempDir(), 2)
			s.Put(letter(1))
			s.Put(letter(2))
			err := c.do(s)
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %v, want one containing %q", err, c.msg)
			}
			if ls, _ := s.List(); ids(ls) != "ep1-1-1,ep1-2-2" {
				t.Fatalf("refusal changed the store: %s", ids(ls))
			}
		})
	}
	s, _ := Open(t.TempDir(), 1)
	s.Put(letter(1))
	if err := s.Put(letter(1)); err != nil {
		t.Fatalf("replacing a letter in a full store: %v", err)
	}
	if err := s.Put(letter(2)); !errors.Is(err, ErrFull) {
		t.Fatalf("Put into a full store: %v", err)
	}
}
