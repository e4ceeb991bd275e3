// Command coven-sandbox runs the whole Spell Coven stack on this machine, with no Discord account and
// no internet, until Ctrl-C.
//
//	go run ./cmd/coven-sandbox [-port 8443] [-verbose]
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

	"github.com/spellcoven/gateway/sandbox"
)

func main() {
	port := flag.Int("port", 8443, "HTTPS port of the edge")
	caddyBin := flag.String("caddy", "", "Caddy binary with the Spell Coven modules (default: build ./cmd/caddy)")
	verbose := flag.Bool("verbose", false, "show every process's log")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var log io.Writer = os.Stderr
	if !*verbose {
		log = &onlyFailures{}
	}
	fmt.Fprintln(os.Stderr, "coven-sandbox: starting the identity provider and the edge...")
	s, err := sandbox.Start(ctx, sandbox.Config{Port: *port, CaddyBin: *caddyBin, Log: log})
	if err != nil {
		if of, ok := log.(*onlyFailures); ok {
			os.Stderr.Write(of.buf)
		}
		fmt.Fprintln(os.Stderr, "coven-sandbox:", err)
		os.Exit(1)
	}
	fmt.Printf(`
Spell Coven sandbox is running.

  Edge (HTTPS)      %s
  Event stream      %s/ws
  Health            %s/healthz
  Demo users        %s/dev-idp/users   (alice, bob, carol)
  Local CA          %s
                    (trust it, or use curl --cacert, to talk to the edge over TLS)

  Get a token:      curl --cacert %s -X POST '%s/dev-idp/token?user=alice'

Press Ctrl-C to stop.
`, s.URL, "wss"+strings.TrimPrefix(s.URL, "https"), s.URL, s.URL, s.RootCA, s.RootCA, s.URL)

	select {
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "\ncoven-sandbox: stopping...")
	case <-s.Done():
		fmt.Fprintln(os.Stderr, "coven-sandbox: the edge exited unexpectedly")
	}
	s.Close()
}

// onlyFailures keeps the processes' output to show it if the start fails.
type onlyFailures struct{ buf []byte }

func (o *onlyFailures) Write(b []byte) (int, error) {
	if len(o.buf) < 1<<20 {
		o.buf = append(o.buf, b...)
	}
	return len(b), nil
}
