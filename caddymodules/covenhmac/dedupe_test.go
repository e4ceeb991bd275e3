package covenhmac

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestDeliveriesRememberIDsForTheWindowAndNoMore(t *testing.T) {
	d := newDeliveries(time.Minute, 3)
	t0 := time.Unix(1000, 0)
	a, earlier := d.begin("a", t0)
	if a == nil || earlier != nil {
		t.Fatal("first delivery not claimed")
	}
	if _, e := d.begin("a", t0); e != a || e.done {
		t.Fatal("a delivery in flight is not found as such")
	}
	d.finish(a, http.StatusAccepted, "text/plain", []byte("ok"))
	if _, e := d.begin("a", t0.Add(time.Minute)); e == nil || !e.done || e.status != http.StatusAccepted || string(e.body) != "ok" {
		t.Fatalf("within the window: %+v", e)
	}
	if c, _ := d.begin("a", t0.Add(time.Minute+time.Second)); c == nil {
		t.Fatal("an id past the window is still remembered")
	}
	// An answer a retry could change is forgotten, so the retry runs.
	b, _ := d.begin("b", t0.Add(2*time.Minute))
	d.finish(b, http.StatusServiceUnavailable, "", nil)
	if c, _ := d.begin("b", t0.Add(2*time.Minute)); c == nil {
		t.Fatal("a 503 is replayed")
	}
	// At most max ids: the oldest make room.
	for i := 0; i < 10; i++ {
		d.begin(strconv.Itoa(i), t0.Add(2*time.Minute))
	}
	if n := len(d.byID); n != 3 || len(d.order) != 3 {
		t.Fatalf("%d ids remembered, bound 3", n)
	}
}
