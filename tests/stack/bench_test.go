package stack

import (
	"slices"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/event"
)

// Measurements of the whole chain, run with
//
//	go test ./tests/stack -run '^$' -bench . -benchtime 1x
//
// They report percentiles as custom metrics; ns/op is the duration of the whole run.

// percentile returns the p-th percentile (0-100) of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func reportPercentiles(b *testing.B, prefix string, ds []time.Duration) {
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(ds, 50)), prefix+"-p50-ms")
	b.ReportMetric(ms(percentile(ds, 99)), prefix+"-p99-ms")
	b.ReportMetric(ms(ds[len(ds)-1]), prefix+"-max-ms")
	b.Logf("%s over %d samples: p50 %v, p90 %v, p99 %v, max %v", prefix, len(ds),
		percentile(ds, 50), percentile(ds, 90), percentile(ds, 99), ds[len(ds)-1])
}

// BenchmarkEventToBrowser measures the time from an emulated Discord event (a user toggling their
// camera) to its arrival on a browser's WebSocket, at 200 events per second for ten seconds.
func BenchmarkEventToBrowser(b *testing.B) {
	const rate, count = 200, 2000
	for range b.N {
		s := newStack(b, stackOptions{})
		g := s.guild.ID
		users := s.users(20)
		room := s.room("Bench")
		for _, u := range users {
			if err := s.emu.JoinVoice(g, room.ID, u.ID); err != nil {
				b.Fatal(err)
			}
		}
		s.worker.waitReady(20 * time.Second)
		v := s.connect(nil)
		v.waitFor(s, 10*time.Second)

		sent := make([]time.Time, count)
		received := make(chan time.Time, count)
		go func() {
			for n := 0; n < count; {
				select {
				case f := <-v.c.Frames:
					if f.Type == string(event.VoiceUpdated) {
						received <- time.Now()
						n++
					}
				case <-v.c.Closed:
					return
				case <-time.After(30 * time.Second):
					return
				}
			}
		}()
		video := make([]bool, len(users))
		interval := time.Second / rate
		next := time.Now()
		for i := 0; i < count; i++ {
			u := i % len(users)
			video[u] = !video[u]
			sent[i] = time.Now()
			if err := s.emu.SetVoiceFlags(g, users[u].ID, discordtest.VoiceFlags{SelfVideo: &video[u]}); err != nil {
				b.Fatal(err)
			}
			next = next.Add(interval)
			time.Sleep(time.Until(next))
		}
		latencies := make([]time.Duration, 0, count)
		for i := 0; i < count; i++ {
			select {
			case at := <-received:
				latencies = append(latencies, at.Sub(sent[i]))
			case <-time.After(30 * time.Second):
				b.Fatalf("%d of %d events reached the browser", i, count)
			}
		}
		reportPercentiles(b, "event", latencies)
	}
}

// BenchmarkSessionRestore drops the worker's gateway connection 20 times and measures the time
// until Discord sees the session resumed, and until a browser is told the link is up again.
func BenchmarkSessionRestore(b *testing.B) {
	const drops = 20
	for range b.N {
		s := newStack(b, stackOptions{})
		s.worker.waitReady(20 * time.Second)
		v := s.connect(nil)
		var resumed, up []time.Duration
		for i := 0; i < drops; i++ {
			before := s.emu.Stats().Resumes
			id := s.session()
			start := time.Now()
			if err := s.emu.DropConnection(id); err != nil {
				b.Fatal(err)
			}
			for s.emu.Stats().Resumes == before {
				if time.Since(start) > 30*time.Second {
					b.Fatal("no resume within 30s")
				}
				time.Sleep(time.Millisecond)
			}
			resumed = append(resumed, time.Since(start))
			for {
				f := v.expect(event.SystemStatus, 30*time.Second)
				if statusOf(b, f.Data) == event.DiscordUp {
					break
				}
			}
			up = append(up, time.Since(start))
		}
		reportPercentiles(b, "resumed", resumed)
		reportPercentiles(b, "browser-up", up)
	}
}
