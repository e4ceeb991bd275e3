package discordrest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
)

func TestChannelLifecycleAgainstTheEmulator(t *testing.T) {
	emu := startEmulator(t, nil)
	c, logs := newClient(t, emu.URL()+"/api/v10", nil)
	ctx := deadline(t, waitLimit)

	ow := Overwrite{ID: ownerID, Type: OverwriteMember, Allow: 1<<20 | 1<<21}
	ch, err := c.CreateChannel(ctx, guildID, CreateChannel{
		Name: "Table 1", Type: ChannelTypeGuildVoice, ParentID: category, UserLimit: 4,
		PermissionOverwrites: []Overwrite{ow},
	}, "created for alice")
	if err != nil {
		t.Fatal(err)
	}
	if ch.Name != "Table 1" || ch.ParentID != category || ch.UserLimit != 4 || ch.GuildID != guildID || ch.Type != ChannelTypeGuildVoice {
		t.Fatalf("created %+v", ch)
	}
	got, err := c.GetChannel(ctx, ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.PermissionOverwrites) != 1 || got.PermissionOverwrites[0] != ow {
		t.Fatalf("overwrites read back %+v, want [%+v]", got.PermissionOverwrites, ow)
	}
	if err := c.DeleteChannel(ctx, ch.ID, "deleted by alice"); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetChannel(ctx, ch.ID)
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindNotFound || e.Code != CodeUnknownChannel {
		t.Fatalf("get after delete: %v, want not_found 10003", err)
	}
	if calls := c.Calls(); len(calls) != 4 {
		t.Fatalf("calls %+v", calls)
	}
	assertNoToken(t, logs, err)
}

func TestAnswersAreClassified(t *testing.T) {
	cases := []struct {
		name     string
		answers  []answer
		call     string // get, create, delete
		kind     Kind
		code     int
		fields   string
		attempts int
	}{
		{"unknown channel", []answer{{404, nil, `{"message":"Unknown Channel","code":10003}`}}, "get", KindNotFound, CodeUnknownChannel, "", 1},
		{"invalid form body names the fields", []answer{{400, nil,
			`{"message":"Invalid Form Body","code":50035,"errors":{"permission_overwrites":{"0":{"id":{"_errors":[{"code":"UNKNOWN_MEMBER","message":"Unknown Member"}]}}},"name":{"_errors":[{"code":"X","message":"x"}]}}}`}},
			"create", KindInvalid, CodeInvalidFormBody, "name,permission_overwrites.0.id", 1},
		{"too many channels", []answer{{400, nil, `{"message":"Maximum number of guild channels reached (500)","code":30013}`}}, "create", KindInvalid, CodeMaxChannels, "", 1},
		{"missing permissions", []answer{{403, nil, `{"message":"Missing Permissions","code":50013}`}}, "delete", KindForbidden, 50013, "", 1},
		{"a 5xx on POST is not retried: Discord may have created the channel", []answer{{500, nil, `{"message":"500: Internal Server Error","code":0}`}}, "create", KindServerError, 0, "", 1},
		{"a 5xx on GET is retried until it succeeds", []answer{{502, nil, "bad gateway"}, {503, nil, ""}, {200, nil, channelJSON}}, "get", 0, 0, "", 3},
		{"a 5xx on DELETE is retried", []answer{{502, nil, ""}, {204, nil, ""}}, "delete", 0, 0, "", 2},
		{"an undecodable answer", []answer{{200, nil, `{"id":`}}, "get", KindServerError, 0, "", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScripted(t, tc.answers...)
			c, logs := newClient(t, srv.srv.URL, nil)
			err := call(t, c, tc.call, 2*time.Second)
			if got := KindOf(err); got != tc.kind {
				t.Fatalf("kind %v (%v), want %v", got, err, tc.kind)
			}
			var e *Error
			if errors.As(err, &e) {
				if e.Code != tc.code || strings.Join(e.Fields, ",") != tc.fields {
					t.Fatalf("error %+v, want code %d fields %q", e, tc.code, tc.fields)
				}
			}
			if n := srv.hits.Load(); int(n) != tc.attempts {
				t.Fatalf("%d attempts, want %d", n, tc.attempts)
			}
			for _, r := range srv.requests() {
				if r.auth != "Bot "+testToken {
					t.Fatalf("Authorization %q", r.auth)
				}
			}
			assertNoToken(t, logs, err)
		})
	}
}

// call makes one call of the named kind with a deadline d.
func call(t *testing.T, c *Client, which string, d time.Duration) error {
	ctx := deadline(t, d)
	switch which {
	case "get":
		_, err := c.GetChannel(ctx, "1200000000000000001")
		return err
	case "create":
		_, err := c.CreateChannel(ctx, guildID, CreateChannel{Name: "x", Type: ChannelTypeGuildVoice}, "")
		return err
	default:
		return c.DeleteChannel(ctx, "1200000000000000001", "")
	}
}

func TestRejectedTokenStopsCallsAndIsReported(t *testing.T) {
	srv := newScripted(t, answer{401, nil, `{"message":"401: Unauthorized","code":0}`})
	c, logs := newClient(t, srv.srv.URL, func(cfg *Config) { cfg.UnauthorizedPause = time.Hour })
	var errs []error
	for i := 0; i < 3; i++ {
		err := call(t, c, "get", time.Second)
		if KindOf(err) != KindUnauthorized {
			t.Fatalf("call %d: %v, want unauthorized", i, err)
		}
		errs = append(errs, err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("Discord saw %d calls after rejecting the token, want 1", n)
	}
	st := c.Status(time.Now())
	if !st.TokenRejected || !st.Refusing || st.InvalidRequests != 1 || !strings.Contains(st.Refusal, "bot token") {
		t.Fatalf("status %+v", st)
	}
	if n := logs.FilterMessageSnippet("rejected the bot token").Len(); n != 1 {
		t.Fatalf("%d log entries about the token, want 1", n)
	}
	assertNoToken(t, logs, errs...)
}

func TestCloudflareBanPausesEveryCall(t *testing.T) {
	srv := newScripted(t, answer{403, map[string]string{"Content-Type": "text/html"}, "<html>Error 1015</html>"})
	c, logs := newClient(t, srv.srv.URL, nil)
	for i := 0; i < 2; i++ {
		err := call(t, c, "create", time.Second)
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindUnavailable || e.RetryAfter <= 0 {
			t.Fatalf("call %d: %v, want unavailable with a retry time", i, err)
		}
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("Discord saw %d calls after banning, want 1", n)
	}
	assertNoToken(t, logs)
}

func TestInvalidRequestBudgetRefusesBeforeTheBan(t *testing.T) {
	srv := newScripted(t, answer{403, nil, `{"message":"Missing Permissions","code":50013}`})
	c, _ := newClient(t, srv.srv.URL, func(cfg *Config) { cfg.InvalidRequestLimit = 3 })
	for i := 0; i < 3; i++ {
		if err := call(t, c, "delete", time.Second); KindOf(err) != KindForbidden {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	err := call(t, c, "delete", time.Second)
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindUnavailable || e.RetryAfter <= 0 || e.Status != 0 {
		t.Fatalf("call past the budget: %v, want refused without a call", err)
	}
	if n := srv.hits.Load(); n != 3 {
		t.Fatalf("Discord saw %d calls, want 3", n)
	}
	if st := c.Status(time.Now()); !st.Refusing || st.InvalidRequests != 3 || st.InvalidRequestLimit != 3 {
		t.Fatalf("status %+v", st)
	}
}

func TestRateLimitStormIsRetriedWithinTheDeadline(t *testing.T) {
	emu := startEmulator(t, nil)
	c, _ := newClient(t, emu.URL()+"/api/v10", nil)
	if err := emu.AddRESTFault(discordtest.RESTFault{Kind: discordtest.FaultRateLimit, Count: 3, RetryAfter: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	ch, err := c.CreateChannel(deadline(t, waitLimit), guildID, CreateChannel{Name: "storm", Type: ChannelTypeGuildVoice, ParentID: category}, "")
	if err != nil {
		t.Fatal(err)
	}
	gs, _ := emu.GuildState(guildID)
	n := 0
	for _, got := range gs.Channels {
		if got.Name == "storm" {
			n++
		}
	}
	if n != 1 || ch.Name != "storm" {
		t.Fatalf("%d channels named storm after the storm, want 1", n)
	}
	want := map[CallKey]uint64{{RouteCreateChannel, "rate_limited"}: 3, {RouteCreateChannel, "ok"}: 1}
	for _, cc := range c.Calls() {
		if want[cc.CallKey] != cc.Count {
			t.Fatalf("calls %+v, want %v", c.Calls(), want)
		}
	}
	// The storm's 429s are "shared" ones, which Discord does not count towards the ban.
	if got := emu.InvalidRequests(); got != 0 {
		t.Fatalf("emulator counted %d invalid requests, want 0", got)
	}
}

func TestWaitsPastTheDeadlineAreNotStarted(t *testing.T) {
	cases := []struct {
		name  string
		fault discordtest.RESTFault
		kind  Kind
	}{
		{"429 with a long retry_after", discordtest.RESTFault{Kind: discordtest.FaultRateLimit, RetryAfter: 30 * time.Second}, KindRateLimited},
		{"global 429", discordtest.RESTFault{Kind: discordtest.FaultRateLimit, RetryAfter: 30 * time.Second, Global: true}, KindRateLimited},
		{"slow answer", discordtest.RESTFault{Kind: discordtest.FaultDelay, Delay: 1500 * time.Millisecond}, KindTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emu := startEmulator(t, nil)
			c, _ := newClient(t, emu.URL()+"/api/v10", nil)
			if err := emu.AddRESTFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			err := call(t, c, "create", 300*time.Millisecond)
			var e *Error
			if !errors.As(err, &e) || e.Kind != tc.kind {
				t.Fatalf("%v, want %v", err, tc.kind)
			}
			if tc.kind == KindRateLimited && e.RetryAfter < 29*time.Second {
				t.Fatalf("retry after %v, want Discord's 30s", e.RetryAfter)
			}
			if tc.kind == KindRateLimited {
				// The limit is remembered: the next call is refused without asking Discord.
				before := emu.InvalidRequests()
				if err := call(t, c, "create", 300*time.Millisecond); KindOf(err) != KindRateLimited {
					t.Fatalf("second call: %v", err)
				}
				if emu.InvalidRequests() != before {
					t.Fatal("the second call reached Discord during its rate limit")
				}
			}
		})
	}
}

func TestRateLimitHeadersAvoid429s(t *testing.T) {
	emu := startEmulator(t, func(cfg *discordtest.Config) {
		cfg.REST = discordtest.RESTConfig{
			Routes: map[string]discordtest.RouteLimit{
				RouteGetChannel: {Requests: 3, Window: 300 * time.Millisecond},
			},
			GlobalLimit: 5,
		}
	})
	c, _ := newClient(t, emu.URL()+"/api/v10", func(cfg *Config) { cfg.GlobalLimit = 5 })
	ctx := deadline(t, waitLimit)
	// One bucket (the category's channel id) under concurrency, then many buckets under the global limit.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.GetChannel(ctx, category)
			errs <- err
		}()
	}
	wg.Wait()
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := c.GetChannel(ctx, fmt.Sprintf("12000000000000000%02d", i))
			if KindOf(err) == KindNotFound {
				err = nil
			}
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := emu.InvalidRequests(); n != 0 {
		t.Fatalf("Discord answered %d 429s; the client should have waited", n)
	}
}

func TestGlobalAndSharedRateLimits(t *testing.T) {
	srv := newScripted(t,
		answer{429, map[string]string{"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"}, `{"message":"You are being rate limited.","retry_after":0.2,"global":true}`},
		answer{429, map[string]string{"X-RateLimit-Scope": "shared"}, `{"message":"You are being rate limited.","retry_after":0.05,"global":false}`},
		answer{200, nil, channelJSON},
	)
	c, _ := newClient(t, srv.srv.URL, nil)
	if err := call(t, c, "get", waitLimit); err != nil {
		t.Fatal(err)
	}
	got := srv.requests()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	if gap := got[1].at.Sub(got[0].at); gap < 200*time.Millisecond {
		t.Fatalf("retried %v after a global 429 asking for 200ms", gap)
	}
	// The global 429 counts towards Cloudflare's ban; the shared one does not.
	if n := c.Status(time.Now()).InvalidRequests; n != 1 {
		t.Fatalf("%d invalid requests counted, want 1", n)
	}
}

func TestUnreachableDiscord(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, logs := newClient(t, "http://"+addr+"/api/v10", nil)
	err = call(t, c, "create", 500*time.Millisecond)
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindUnavailable || e.RetryAfter <= 0 {
		t.Fatalf("%v, want unavailable with a retry time", err)
	}
	// A refused connection is retried even for a POST: Discord never saw it.
	var attempts uint64
	for _, cc := range c.Calls() {
		attempts += cc.Count
	}
	if attempts < 2 {
		t.Fatalf("%d attempts, want retries", attempts)
	}
	assertNoToken(t, logs, err)
}

func TestAuditReasonIsEncoded(t *testing.T) {
	srv := newScripted(t, answer{http.StatusNoContent, nil, ""})
	c, _ := newClient(t, srv.srv.URL, nil)
	if err := c.DeleteChannel(deadline(t, time.Second), "1200000000000000001", "deleted by Zoë (admin)"); err != nil {
		t.Fatal(err)
	}
	if got := srv.requests()[0]; got.audit != "deleted%20by%20Zo%C3%AB%20%28admin%29" || got.path != "/channels/1200000000000000001" {
		t.Fatalf("got %+v", got)
	}
}
