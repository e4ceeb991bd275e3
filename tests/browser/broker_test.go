package browser

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/spellcoven/gateway/hub/redisbroker/redistest"
	"github.com/spellcoven/gateway/internal/freeport"
	"github.com/spellcoven/gateway/sandbox"
)

// TestBrokerOutage runs a sandbox whose edge uses the Redis broker, as edges that scale out do.
// When Redis stops, the page stays connected with the rooms it holds and says that live updates
// are paused; when Redis is back the note goes and a change Discord made meanwhile arrives.
func TestBrokerOutage(t *testing.T) {
	redis := redistest.Start(t)
	port, err := freeport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	log := &lockedBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := sandbox.Start(ctx, sandbox.Config{
		Port: port, RepoRoot: "../..", Dir: stackDir, Log: log, Verbose: true, RedisURL: redis.URL(),
		CaddyBin: filepath.Join(stackDir, "bin", "caddy"), WorkerBin: filepath.Join(stackDir, "bin", "coven-worker"),
	})
	if err != nil {
		t.Fatalf("starting a sandbox with Redis: %v\n%s", err, log)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("stopping the sandbox: %v", err)
		}
		if t.Failed() {
			t.Logf("sandbox log (last 16 KiB):\n%s", tail(log.String(), 16<<10))
		}
	}()

	p := openPage(t)
	p.do("loading the page", 30*time.Second, chromedp.Navigate(s.URL()+"/"), chromedp.WaitVisible(byTestID("sign-in")))
	p.waitJS("the demo users are offered", `!document.querySelector('[data-testid="sign-in"]').disabled`, 10*time.Second)
	p.selectOption("user-select", "bob")
	p.do("signing in", 10*time.Second, chromedp.Click(byTestID("sign-in"), chromedp.NodeVisible))
	p.waitJS("connected, the Lobby shown", `window.covenDebug.state?.status === 'connected'
		&& document.querySelectorAll('[data-testid="room"]').length === 1
		&& document.querySelector('[data-testid="broker-status"]').hidden`, 20*time.Second)
	var lobby string
	p.eval(`document.querySelector('[data-testid="room"]').dataset.roomId`, &lobby)

	redis.Stop()
	p.waitJS("the page says live updates are paused", `(() => {
		const note = document.querySelector('[data-testid="broker-status"]');
		return !note.hidden && note.dataset.broker === 'unavailable' && note.textContent.startsWith('Live updates paused')
			&& window.covenDebug.state.status === 'connected' && window.covenDebug.state.broker === 'unavailable'
			&& document.querySelectorAll('[data-testid="room"]').length === 1;
	})()`, 20*time.Second)
	// Discord changes while the edge cannot take events: the worker keeps them.
	if err := s.Emulator().JoinVoice(sandbox.GuildID, lobby, dana); err != nil {
		t.Fatal(err)
	}

	redis.Restart()
	p.waitJS("the note is gone and the change made meanwhile arrived", fmt.Sprintf(`(() => {
		const note = document.querySelector('[data-testid="broker-status"]');
		return note.hidden && note.dataset.broker === 'ok'
			&& !!document.querySelector('[data-room-id=%q] [data-testid="member"][data-user-id=%q]');
	})()`, lobby, dana), 30*time.Second)
	var statuses []string
	p.eval(`window.covenDebug.statuses`, &statuses)
	if len(statuses) != 2 || statuses[0] != "connecting" || statuses[1] != "connected" {
		t.Fatalf("connection statuses %v: the page should have stayed connected through the outage", statuses)
	}
	for _, m := range p.consoleMessages() {
		if m.IsException() {
			t.Errorf("uncaught exception in the page: %s", m)
		}
	}
}
