package stream

import (
	"strings"
	"testing"
)

func TestDecodeClientMessage(t *testing.T) {
	cases := []struct {
		name, in, err string
	}{
		{"auth", `{"type":"auth","token":"t"}`, ""},
		{"auth with resume", `{"type":"auth","token":"t","resume":{"epoch":"e","seq":4}}`, ""},
		{"auth without token (header-authenticated)", `{"type":"auth"}`, ""},
		{"ping", `{"type":"ping"}`, ""},
		{"no type", `{"token":"t"}`, `without "type"`},
		{"unknown type", `{"type":"subscribe"}`, `unknown message type "subscribe"`},
		{"unknown field", `{"type":"auth","tokn":"t"}`, "unknown field"},
		{"resume without epoch", `{"type":"auth","resume":{"seq":3}}`, "resume needs"},
		{"negative seq", `{"type":"auth","resume":{"epoch":"e","seq":-1}}`, "invalid JSON"},
		{"two objects", `{"type":"ping"}{"type":"ping"}`, "one JSON object"},
		{"ping with token", `{"type":"ping","token":"x"}`, "takes no fields"},
		{"not json", `hello`, "invalid JSON"},
		{"array", `[]`, "invalid JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeClientMessage([]byte(c.in))
			if c.err == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("got %v, want error containing %q", err, c.err)
			}
		})
	}
}

func FuzzDecodeClientMessage(f *testing.F) {
	for _, s := range []string{`{"type":"auth","token":"t","resume":{"epoch":"e","seq":4}}`, `{"type":"ping"}`, `{}`, `{"type":"auth","resume":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeClientMessage(data)
		if err != nil {
			return
		}
		if m.Type != msgAuth && m.Type != msgPing {
			t.Fatalf("accepted type %q", m.Type)
		}
		if m.Resume != nil && m.Resume.Epoch == "" {
			t.Fatal("accepted a resume without epoch")
		}
	})
}
