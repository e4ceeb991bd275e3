// Command coven-worker is the Spell Coven gateway worker: it holds the bot's Discord gateway
// session, turns voice-channel activity into contract v1 events, keeps them in a durable outbox and
// delivers them, signed, to the edge's /internal/events. See package worker.
//
// Usage:
//
//	coven-worker [flags]                          run the worker (flags: coven-worker -h)
//	coven-worker deadletter list [ID...]          list the events the edge refused for good
//	coven-worker deadletter replay [-all | ID...] append them to the outbox again
//	coven-worker voice join|leave|play|record|status ...
//	                                              drive the bot's voice in a running worker
//
// Every flag can be given as an environment variable instead (coven-worker -h lists them). The
// worker stops gracefully on SIGTERM or SIGINT.
//
// The voice commands (coven-worker voice -h) send one request, signed with the webhook secret, to
// the control endpoint of a running worker (its -listen address): join or leave a room, play an
// Ogg Opus file of its -voice-media-dir, record each member of the call into -voice-recordings-dir,
// or show the status. They exit 1 when the worker refuses, with its reason.
//
// Exit status: 0 after a graceful stop, 1 on a runtime failure, 2 on bad usage or configuration,
// 3 when Discord ended the session for good (close codes 4004 and 4010-4014: a bad token,
// sharding or intents), which restarting with the same configuration cannot fix.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/bwmarrin/discordgo"

	"github.com/spellcoven/gateway/worker"
	"github.com/spellcoven/gateway/worker/discordgw"
)

// Exit statuses.
const (
	exitFailure = 1
	exitUsage   = 2
	exitFatal   = 3
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "deadletter" {
		return deadLetterCommand(args[1:], getenv, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "voice" {
		return voiceCommand(args[1:], getenv, stdout, stderr)
	}
	cfg, err := worker.Load(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		worker.Usage(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "coven-worker: %v\n(coven-worker -h lists the settings)\n", err)
		return exitUsage
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.Level()}))
	routeLibraryLogs(log, append([]string{cfg.Token}, cfg.VoiceTokens...)...)
	w, err := worker.New(cfg, log)
	if err != nil {
		log.Error("cannot start: " + err.Error())
		return exitFailure
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-ctx.Done()
		// A second signal ends the process at once.
		stop()
	}()
	err = w.Run(ctx)
	var fatal *discordgw.FatalCloseError
	switch {
	case errors.As(err, &fatal):
		return exitFatal
	case err != nil:
		log.Error("stopped: " + err.Error())
		return exitFailure
	}
	return 0
}

// routeLibraryLogs sends discordgo's logs (a package-level hook) to log, with the tokens (the
// main bot's and the voice bots') removed should one ever appear in one.
func routeLibraryLogs(log *slog.Logger, tokens ...string) {
	discordgo.Logger = func(level, _ int, format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		for _, token := range tokens {
			if token != "" {
				msg = strings.ReplaceAll(msg, token, "[redacted]")
			}
		}
		switch level {
		case discordgo.LogError:
			log.Error("discordgo: " + msg)
		case discordgo.LogWarning:
			log.Warn("discordgo: " + msg)
		default:
			log.Debug("discordgo: " + msg)
		}
	}
}
