package metrics

import (
	"os"
	"strings"
	"testing"
)

// docs/worker.md names every metric of the worker's registry.
func TestDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/worker.md")
	if err != nil {
		t.Fatal(err)
	}
	m := New()
	m.CloseCode(4000)
	m.DiscordEvents.WithLabelValues("READY")
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, namespace+"_") {
			continue // the Go and process collectors
		}
		n++
		if !strings.Contains(string(doc), "`"+name) {
			t.Errorf("docs/worker.md does not name %s", name)
		}
	}
	if n < 10 {
		t.Fatalf("only %d metrics gathered", n)
	}
}
