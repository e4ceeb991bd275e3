package origin

import "testing"

func TestAllows(t *testing.T) {
	l, err := Parse([]string{"https://app.example.com", "http://localhost:5173", "https://*.coven.test"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		origin string
		want   bool
	}{
		{"https://app.example.com", true},
		{"HTTPS://APP.EXAMPLE.COM", true},
		{"http://app.example.com", false},
		{"https://app.example.com:8443", false},
		{"https://evil.example.com", false},
		{"http://localhost:5173", true},
		{"http://localhost:5174", false},
		{"https://a.coven.test", true},
		{"https://a.b.coven.test", true},
		{"https://coven.test", false},
		{"https://evilcoven.test", false},
		{"http://a.coven.test", false},
		{"null", false},
		{"", false},
	}
	for _, c := range cases {
		if got := l.Allows(c.origin); got != c.want {
			t.Errorf("Allows(%q) = %v, want %v", c.origin, got, c.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, bad := range []string{"app.example.com", "ftp://x", "https://", "https://x/path", "https://x?q", "https://a.*.com", "https://*", "https://u@x"} {
		if _, err := Parse([]string{bad}); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestAny(t *testing.T) {
	l, err := Parse([]string{"*"})
	if err != nil || !l.Any() || !l.Allows("https://whatever.example") {
		t.Fatalf("wildcard list: %v %v", l, err)
	}
	if e, _ := Parse(nil); !e.Empty() {
		t.Fatal("empty list not Empty")
	}
}
