package tests

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/hub/redisbroker/redistest"
	"github.com/spellcoven/gateway/internal/edgetest"
)

// BenchmarkRoomsCreate measures POST /api/rooms through the edge against the emulator (rate limits
// off), and in the same run the emulator's own answer to the same channel creation sent directly,
// alternating the two so that both see the same machine. It reports the 50th and 95th percentiles of
// both and what the edge adds at the 95th (added-p95-ms); docs/rooms.md records the figures.
//
// The "redis" variant runs the edge with the Redis broker and sends an Idempotency-Key with each
// request, so that the key's claim and answer and the creation count go through Redis.
//
//	go test ./tests -run '^$' -bench BenchmarkRoomsCreate -benchtime 2000x
func BenchmarkRoomsCreate(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchmarkRoomsCreate(b, "") })
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		benchmarkRoomsCreate(b, srv.URL())
	})
}

func benchmarkRoomsCreate(b *testing.B, redisURL string) {
	const players = 50
	var users []discordtest.User
	for i := 0; i < players; i++ {
		users = append(users, discordtest.User{ID: fmt.Sprintf("14%017d", i+1), Username: fmt.Sprintf("player%d", i)})
	}
	s := newRoomsStack(b, roomsOptions{
		rooms: "max_owned_rooms 1000000\n\t\t\tmax_creations 1000000",
		emulator: func(c *discordtest.Config) {
			c.Users = users
			c.Guilds[0].MaxChannels = 1 << 30
		},
		edge: func(c *edgetest.Config) {
			c.LogLevel, c.NoAccessLog = "INFO", true
			// Rate limits off on both sides: the edge's own keeping of Discord's global limit too.
			c.Global = strings.Replace(c.Global, "discord_limits {", "discord_limits {\n\t\t\tglobal_requests 10000", 1)
			if redisURL != "" {
				c.Global += "\n\t\tbroker redis " + redisURL
			}
		},
	})
	tokens := make([]string, players)
	for i, u := range users {
		tok, err := s.idp.MintFor(u.Username, edgetest.Audience, time.Hour, map[string]any{"discord_id": u.ID})
		if err != nil {
			b.Fatal(err)
		}
		tokens[i] = tok
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	post := func(url string, header http.Header, body string) (time.Duration, []byte) {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(body))
		req.Header = header
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		elapsed := time.Since(start)
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("%s: %d %s", url, resp.StatusCode, raw)
		}
		return elapsed, raw
	}
	direct := s.emu.URL() + "/api/v10/guilds/" + edgetest.GuildID + "/channels"
	viaEdge := s.edge.URL("/api/rooms")
	created := func(raw []byte) string {
		i := bytes.Index(raw, []byte(`"id":"`))
		j := bytes.IndexByte(raw[i+6:], '"')
		return string(raw[i+6 : i+6+j])
	}
	var edgeTimes, emuTimes []time.Duration
	keys := 0 // every request a new Idempotency-Key: each one creates
	round := func(i int) {
		u := users[i%players]
		// What the edge sends Discord for a room of u, sent directly.
		body := fmt.Sprintf(`{"name":"bench %d","type":2,"parent_id":"%s","user_limit":0,"permission_overwrites":[{"id":"%s","type":1,"allow":"32507648","deny":"0"}]}`,
			i, roomsCategory, u.ID)
		d, raw := post(direct, http.Header{"Authorization": {"Bot " + edgetest.BotToken}, "Content-Type": {"application/json"}}, body)
		emuTimes = append(emuTimes, d)
		s.emu.DeleteChannel(created(raw))
		h := http.Header{"Authorization": {"Bearer " + tokens[i%players]}, "Content-Type": {"application/json"}}
		if redisURL != "" {
			keys++
			h.Set("Idempotency-Key", fmt.Sprintf("bench-%d", keys))
		}
		d, raw = post(viaEdge, h, fmt.Sprintf(`{"name":"bench %d"}`, i))
		edgeTimes = append(edgeTimes, d)
		s.emu.DeleteChannel(created(raw))
	}
	for i := 0; i < 20; i++ { // warm up connections and the category cache
		round(i)
	}
	edgeTimes, emuTimes = nil, nil
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		round(i)
	}
	b.StopTimer()
	pct := func(ds []time.Duration, p float64) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[int(float64(len(s)-1)*p)]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(edgeTimes, 0.50), "edge-p50-ms")
	b.ReportMetric(pct(edgeTimes, 0.95), "edge-p95-ms")
	b.ReportMetric(pct(emuTimes, 0.50), "emulator-p50-ms")
	b.ReportMetric(pct(emuTimes, 0.95), "emulator-p95-ms")
	b.ReportMetric(pct(edgeTimes, 0.95)-pct(emuTimes, 0.95), "added-p95-ms")
	b.ReportMetric(0, "ns/op")
}
