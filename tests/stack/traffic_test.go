package stack

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
)

// traffic makes emulated users join, leave, move between rooms and toggle their camera and
// microphone: one voice event per action (a move between rooms is two).
type traffic struct {
	s     *stack
	users []discordtest.User
	rooms []string
	where map[string]string // user id -> room id, for users in voice
	flags map[string]bool   // user id -> self_video
	rnd   *rand.Rand
}

func newTraffic(s *stack, users, rooms int) *traffic {
	tr := &traffic{s: s, users: s.users(users), where: map[string]string{}, flags: map[string]bool{}, rnd: rand.New(rand.NewPCG(1, 2))}
	for i := 0; i < rooms; i++ {
		tr.rooms = append(tr.rooms, s.room("Table "+string(rune('A'+i))).ID)
	}
	return tr
}

// step performs one random action.
func (tr *traffic) step(t testing.TB) {
	g := tr.s.guild.ID
	u := tr.users[tr.rnd.IntN(len(tr.users))].ID
	room, inVoice := tr.where[u]
	var err error
	switch r := tr.rnd.IntN(10); {
	case !inVoice:
		room = tr.rooms[tr.rnd.IntN(len(tr.rooms))]
		err = tr.s.emu.JoinVoice(g, room, u)
		tr.where[u], tr.flags[u] = room, false
	case r < 2:
		err = tr.s.emu.LeaveVoice(g, u)
		delete(tr.where, u)
	case r < 4:
		next := tr.rooms[tr.rnd.IntN(len(tr.rooms))]
		if next == room {
			next = tr.rooms[(tr.rnd.IntN(len(tr.rooms)-1)+1+indexOf(tr.rooms, room))%len(tr.rooms)]
		}
		err = tr.s.emu.JoinVoice(g, next, u)
		tr.where[u], tr.flags[u] = next, tr.flags[u]
	default:
		v := !tr.flags[u]
		err = tr.s.emu.SetVoiceFlags(g, u, discordtest.VoiceFlags{SelfVideo: &v})
		tr.flags[u] = v
	}
	if err != nil {
		t.Fatalf("traffic: %v", err)
	}
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return 0
}

// run performs n actions at about rate per second, calling during(i) before action i (to inject
// faults), and stops early when ctx ends.
func (tr *traffic) run(ctx context.Context, t testing.TB, n int, rate float64, during func(i int)) {
	interval := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if during != nil {
			during(i)
		}
		tr.step(t)
		next = next.Add(interval)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
}
