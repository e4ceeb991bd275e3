package discordtest

import (
	"slices"
	"testing"
)

func TestBoundedLogKeepsTheLatestItems(t *testing.T) {
	tests := []struct {
		name   string
		limit  int
		pushes int
	}{
		{"under the limit", 4, 3},
		{"at the limit", 4, 4},
		{"one over", 4, 5},
		{"many times over", 4, 1001},
		{"limit one", 1, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newBoundedLog[int](tt.limit)
			for i := range tt.pushes {
				l.push(i)
				if l.len() > tt.limit {
					t.Fatalf("after %d pushes: %d items kept, limit %d", i+1, l.len(), tt.limit)
				}
				if cap(l.items) > 4*tt.limit+4 {
					t.Fatalf("after %d pushes: backing array of %d for a limit of %d", i+1, cap(l.items), tt.limit)
				}
			}
			var want []int
			for i := max(0, tt.pushes-tt.limit); i < tt.pushes; i++ {
				want = append(want, i)
			}
			if got := l.all(); !slices.Equal(got, want) {
				t.Fatalf("kept %v, want %v", got, want)
			}
		})
	}
}
