package browser

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/sandbox"
)

// Emulated Discord users the tests move around (sandbox.DiscordOnlyUsers).
const (
	dana = "1300000000000000011"
	eli  = "1300000000000000012"
)

// journey is what one step of TestDemoPage shares with the next.
type journey struct {
	p *page
	// room is the id of the room the page created.
	room string
}

// TestDemoPage follows a newcomer through the demo page in Chromium, step by step; each step
// needs the ones before it, so the first failure stops the test (with a screenshot of the page).
func TestDemoPage(t *testing.T) {
	resetGuild(t)
	j := &journey{p: openPage(t)}
	steps := []struct {
		name string
		run  func(t *testing.T, j *journey)
	}{
		{"the page loads over TLS and offers the demo users", testPageLoads},
		{"a demo user signs in and sees the guild's rooms live", testSignIn},
		{"a room created in the page appears in it", testCreateRoom},
		{"an emulated user joined through the simulate panel appears in the room", testSimulatedJoin},
		{"an edge killed and started again: the page resumes and equals Discord", testEdgeRestart},
		{"the token is refreshed on the open stream, without a visible drop", testTokenRefresh},
		{"a screenshot of the page is written", testScreenshot},
	}
	for _, step := range steps {
		if !t.Run(step.name, func(t *testing.T) { j.p.t = t; step.run(t, j) }) {
			j.p.t = t
			t.Logf("screenshot of the failure: %s", j.p.screenshot("failure.png"))
			t.FailNow()
		}
	}
	for _, m := range j.p.consoleMessages() {
		if m.IsException() {
			t.Errorf("uncaught exception in the page: %s", m)
		}
	}
}

func testPageLoads(t *testing.T, j *journey) {
	p := j.p
	p.do("loading the page", 30*time.Second,
		chromedp.Navigate(stack.URL()+"/"),
		chromedp.WaitVisible(byTestID("sign-in")),
	)
	var loc struct{ Protocol, Host, Title string }
	p.eval(`({protocol: location.protocol, host: location.host, title: document.title})`, &loc)
	u, _ := url.Parse(stack.URL())
	if loc.Protocol != "https:" || loc.Host != u.Host || loc.Title != "Spell Coven sandbox" {
		t.Fatalf("page at %+v, want https://%s titled Spell Coven sandbox", loc, u.Host)
	}
	p.waitJS("the demo users are offered", `document.querySelector('[data-testid="user-select"]').options.length === 3
		&& !document.querySelector('[data-testid="sign-in"]').disabled`, 10*time.Second)
	var status string
	p.eval(`document.querySelector('[data-testid="connection-status"]').textContent.trim()`, &status)
	if status != "Not connected" {
		t.Fatalf("before sign-in the indicator says %q", status)
	}
}

func testSignIn(t *testing.T, j *journey) {
	p := j.p
	p.selectOption("user-select", "alice")
	p.do("signing in", 10*time.Second, chromedp.Click(byTestID("sign-in"), chromedp.NodeVisible))
	p.waitJS("connected after sign-in", `window.covenDebug.state?.status === 'connected'`, 20*time.Second)
	var name string
	p.eval(`document.querySelector('[data-testid="signed-in-name"]').textContent`, &name)
	if name != "Alice" {
		t.Fatalf("signed in as %q", name)
	}
	waitShowsDiscord(p, "the page shows the guild's rooms", 10*time.Second)
	if rooms := p.shownRooms(); len(rooms) != 1 || rooms[0].Name != "Lobby" {
		t.Fatalf("rooms shown %+v, want the Lobby", rooms)
	}
	p.waitJS("the simulate panel knows the emulated users", `!document.querySelector('[data-testid="simulate-controls"]').disabled
		&& document.querySelector('[data-testid="sim-user"]').options.length === 6`, 10*time.Second)
}

func testCreateRoom(t *testing.T, j *journey) {
	p := j.p
	p.do("creating a room", 10*time.Second,
		chromedp.SendKeys(chromedp.CSS(`input[data-testid="room-name"]`), "Friday table"),
		chromedp.SetValue(chromedp.CSS(`input[data-testid="room-limit"]`), "4"),
		chromedp.Click(byTestID("create-room"), chromedp.NodeVisible),
	)
	p.waitUntil("the new room is shown", 20*time.Second, func() error {
		for _, r := range p.shownRooms() {
			if r.Name == "Friday table" {
				j.room = r.ID
				return nil
			}
		}
		return fmt.Errorf("shown: %+v", p.shownRooms())
	})
	rooms, err := stack.DiscordRooms()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(rooms, func(r event.RoomState) bool { return r.ID == j.room })
	if i < 0 || rooms[i].Name != "Friday table" || rooms[i].UserLimit != 4 {
		t.Fatalf("Discord holds %+v, want the room %s named Friday table for 4", rooms, j.room)
	}
	var mine bool
	p.eval(fmt.Sprintf(`!!document.querySelector('[data-room-id=%q] [data-testid="room-mine"]')`, j.room), &mine)
	if !mine {
		t.Fatal("the room is not marked as the signed-in user's")
	}
	waitShowsDiscord(p, "the page equals Discord", 5*time.Second)
}

func testSimulatedJoin(t *testing.T, j *journey) {
	p := j.p
	p.selectOption("sim-user", dana)
	p.selectOption("sim-room", j.room)
	p.do("making Dana join", 10*time.Second, chromedp.Click(byTestID("sim-join"), chromedp.NodeEnabled))
	p.waitJS("Dana is shown in the room", fmt.Sprintf(
		`!!document.querySelector('[data-room-id=%q] [data-testid="member"][data-user-id=%q]')`, j.room, dana), 15*time.Second)
	p.waitJS("the panel says where Dana is", `document.querySelector('[data-testid="sim-where"]').textContent === 'Dana is in Friday table.'`, 5*time.Second)
	p.do("turning Dana's camera on", 10*time.Second, chromedp.Click(byTestID("sim-video"), chromedp.NodeEnabled))
	p.waitJS("Dana's camera badge is shown", fmt.Sprintf(
		`!!document.querySelector('[data-user-id=%q] [data-testid="badge"][data-flag="self_video"]')`, dana), 15*time.Second)
	waitShowsDiscord(p, "the page equals Discord", 5*time.Second)
}

func testEdgeRestart(t *testing.T, j *journey) {
	p := j.p
	emu := stack.Emulator()
	if err := stack.KillEdge(); err != nil {
		t.Fatal(err)
	}
	before := len(p.covenDebug().Statuses)
	p.waitJS("the page notices the lost connection", `window.covenDebug.state.status === 'reconnecting'`, 20*time.Second)
	// While the edge is down, Discord keeps changing; the worker holds the events.
	must(t, emu.JoinVoice(sandbox.GuildID, j.room, eli))
	must(t, emu.SetVoiceFlags(sandbox.GuildID, dana, discordtest.VoiceFlags{SelfMute: ptr(true)}))
	must(t, emu.JoinVoice(sandbox.GuildID, lobbyID(t), "1300000000000000013"))
	// The edge stays down until the page has tried to reconnect and failed.
	p.waitJS("a reconnection attempt fails", fmt.Sprintf(
		`window.covenDebug.statuses.slice(%d).filter((s) => s === 'reconnecting').length >= 2`, before), 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := stack.StartEdge(ctx); err != nil {
		t.Fatal(err)
	}
	p.waitJS("the page is connected again", `['resumed', 'snapshot', 'connected'].includes(window.covenDebug.state.status)`, 60*time.Second)
	waitShowsDiscord(p, "the page equals Discord after the restart", 20*time.Second)
	var indicator string
	p.eval(`document.querySelector('[data-testid="connection-status"]').textContent.trim()`, &indicator)
	if !strings.HasPrefix(indicator, "Connected") {
		t.Fatalf("the indicator says %q", indicator)
	}
}

func testTokenRefresh(t *testing.T, j *journey) {
	p := j.p
	start := time.Now()
	before := p.covenDebug()
	issued := stack.TokensIssued("alice")
	// By then the token the stream holds now has expired: only refreshed tokens keep it open.
	p.waitUntil("two tokens refreshed and the first one expired", 2*tokenTTL+20*time.Second, func() error {
		if n := stack.TokensIssued("alice") - issued; n < 2 || time.Since(start) < tokenTTL+2*time.Second {
			return fmt.Errorf("%d tokens refreshed in %v", n, time.Since(start).Round(time.Second))
		}
		return nil
	})
	after := p.covenDebug()
	if len(after.Statuses) != len(before.Statuses) {
		t.Fatalf("the connection changed while tokens were refreshed: %v", after.Statuses[len(before.Statuses):])
	}
	if len(after.Errors) != len(before.Errors) {
		t.Fatalf("errors shown: %v", after.Errors[len(before.Errors):])
	}
	// The stream opened before that is still live.
	must(t, stack.Emulator().SetVoiceFlags(sandbox.GuildID, eli, discordtest.VoiceFlags{SelfStream: ptr(true)}))
	p.waitJS("a change after the expiry is shown", fmt.Sprintf(
		`!!document.querySelector('[data-user-id=%q] [data-testid="badge"][data-flag="self_stream"]')`, eli), 15*time.Second)
	waitShowsDiscord(p, "the page equals Discord", 5*time.Second)
}

func testScreenshot(t *testing.T, j *journey) {
	path := j.p.screenshot("sandbox-page.png")
	t.Logf("screenshot: %s", path)
}
