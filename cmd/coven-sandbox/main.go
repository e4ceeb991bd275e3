// Command coven-sandbox runs the whole Spell Coven stack on this machine, with no Discord account
// and no internet, until Ctrl-C: the Discord emulator, a development identity provider with demo
// users, the worker and the edge serving the demo page over HTTPS.
//
//	go run ./cmd/coven-sandbox [-port 8443] [-verbose] [-token-ttl 10m] [-dir DIR]
//
// See docs/sandbox.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spellcoven/gateway/sandbox"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run starts the sandbox, prints how to use it and waits for ctx to end or a part to fail. It
// returns the exit status: 0 after a clean stop, 1 when a part failed, 2 on bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("coven-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg sandbox.Config
	fs.IntVar(&cfg.Port, "port", sandbox.DefaultPort, "HTTPS port of the edge (on the loopback interface)")
	fs.DurationVar(&cfg.TokenTTL, "token-ttl", sandbox.DefaultTokenTTL, "lifetime of the demo users' tokens (10s to 24h; short ones show refreshes)")
	fs.StringVar(&cfg.Dir, "dir", "", "directory kept across runs: the local CA and the built binaries (default <user cache dir>/coven-sandbox)")
	fs.StringVar(&cfg.RepoRoot, "repo", ".", "the repository's root (the page is served from its web/)")
	fs.StringVar(&cfg.CaddyBin, "caddy", "", "prebuilt edge binary (default: build ./cmd/caddy)")
	fs.StringVar(&cfg.WorkerBin, "worker", "", "prebuilt coven-worker binary (default: build ./cmd/coven-worker)")
	fs.BoolVar(&cfg.Verbose, "verbose", false, "show every line of every part's log (default: warnings and errors)")
	fs.StringVar(&cfg.RedisURL, "redis", "", "run the edge with the Redis broker at this URL (redis://host:port/db), as edges that scale out do")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "coven-sandbox: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg.Log = stderr

	fmt.Fprintln(stderr, "coven-sandbox: starting the Discord emulator, the identity provider, the edge and the worker...")
	s, err := sandbox.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "coven-sandbox:", err)
		return 1
	}
	printWelcome(stdout, s, cfg.TokenTTL)

	status := 0
	select {
	case <-ctx.Done():
		fmt.Fprintln(stderr, "\ncoven-sandbox: stopping the worker, then the edge...")
	case err := <-s.Failed():
		fmt.Fprintln(stderr, "coven-sandbox:", err)
		status = 1
	}
	if err := s.Close(); err != nil {
		fmt.Fprintln(stderr, "coven-sandbox: stopping:", err)
		status = 1
	} else {
		fmt.Fprintln(stderr, "coven-sandbox: stopped")
	}
	return status
}

func printWelcome(w io.Writer, s *sandbox.Stack, ttl time.Duration) {
	users := make([]string, 0, len(sandbox.DemoUsers))
	for _, u := range sandbox.DemoUsers {
		users = append(users, u.Subject)
	}
	discordOnly := make([]string, 0, len(sandbox.DiscordOnlyUsers))
	for _, u := range sandbox.DiscordOnlyUsers {
		discordOnly = append(discordOnly, u.GlobalName)
	}
	fmt.Fprintf(w, `
Spell Coven sandbox is running: open %[1]s/

  Your browser warns about the certificate the first time: it comes from a local certificate
  authority, %[2]s
  Trust it (or accept the warning once); it stays the same from one run to the next.

What to do next
  1. Sign in as a demo user (%[3]s; Alice is an admin). Tokens last %[4]v and are refreshed live.
  2. Create a room. It is a voice channel in the emulated Discord, made by the edge with the bot token.
  3. In "Simulate Discord", make %[5]s join it, mute them, turn a camera on.
     Each change goes emulator -> worker -> edge -> your page, as it would from Discord.
  4. Turn the room's table view on (you own it), join it yourself in "Simulate Discord", and press
     "Watch table": their cameras and voices, relayed live by the bot (WHEP, WebRTC).

Endpoints
  Demo page          %[1]s/
  Event stream       wss%[6]s/ws
  Rooms API          %[1]s/api/rooms            (bearer token from the identity provider)
  Table view (WHEP)  %[1]s/api/table/{room}/{member}
  Edge health        %[1]s/healthz
  Identity provider  %[1]s/dev-idp/users, POST %[1]s/dev-idp/token?user=alice, POST %[1]s/dev-idp/rotate
  Discord emulator   %[1]s/dev-discord/state  (its control API; the edge adds the control token)
  Worker health      %[7]s/readyz

From a terminal
  curl --cacert %[2]s -X POST '%[1]s/dev-idp/token?user=alice'

Voice: the bot in a room (end-to-end encrypted with DAVE, against the emulator's voice server)
  set -a; . %[8]s; set +a
  go run ./cmd/coven-worker voice join <room id>      (ids: %[1]s/api/rooms with a token, or %[1]s/dev-discord/state)
  go run ./cmd/coven-worker voice play %[9]s
  go run ./cmd/coven-worker voice record start       (files land in %[10]s)
  go run ./cmd/coven-worker voice status
  go run ./cmd/coven-worker voice leave

Logs show warnings and errors (-verbose shows everything). Ctrl-C stops everything.
`, s.URL(), s.RootCA(), strings.Join(users, ", "), ttl, strings.Join(discordOnly, ", "),
		strings.TrimPrefix(s.URL(), "https"), s.WorkerHealthURL(), s.VoiceEnvFile(), sandbox.ChimeFile, s.RecordingsDir())
}
