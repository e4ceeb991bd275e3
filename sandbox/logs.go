package sandbox

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// Log lines longer than this are cut, so a part that writes without line breaks cannot grow memory.
const maxLogLine = 64 << 10

// tailLines is how many of a part's last lines are kept to explain its failure.
const tailLines = 40

// logSink is the one writer every part's log goes to. Lines are written whole, one at a time, so
// parts writing at once never interleave within a line.
type logSink struct {
	mu      sync.Mutex
	w       io.Writer
	verbose bool
}

func (s *logSink) writeLine(line []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = s.w.Write(line)
}

// partLog is one part's log (the edge, the worker, the emulator...): every line is prefixed with the
// part's name; without Config.Verbose only warnings, errors and lines that are not structured logs
// (build errors, panics) pass. The last lines are kept whatever the level, to say why a part failed.
type partLog struct {
	sink   *logSink
	prefix []byte
	// routine are warnings the part gives on every run that call for nothing: they are shown with
	// Config.Verbose only.
	routine []string

	mu      sync.Mutex
	partial []byte
	tail    []string
}

// part returns the log of the named part, e.g. "edge", and the part's routine warnings.
func (s *logSink) part(name string, routine ...string) *partLog {
	return &partLog{sink: s, prefix: []byte(padName(name) + " | "), routine: routine}
}

// caddyRoutineWarnings are warnings Caddy logs on every run of the sandbox.
var caddyRoutineWarnings = []string{
	"admin endpoint disabled", // the sandbox turns it off: nothing reconfigures the edge
	"exiting; byeee",          // Caddy's goodbye on every stop
}

// padName aligns the parts' prefixes.
func padName(name string) string {
	const width = 7
	if len(name) >= width {
		return name
	}
	return name + strings.Repeat(" ", width-len(name))
}

// Write splits b into lines and passes each on; a line without its line break waits for the rest.
func (p *partLog) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			if len(p.partial) >= maxLogLine {
				p.line(p.partial[:maxLogLine])
				p.partial = append(p.partial[:0], p.partial[maxLogLine:]...)
				continue
			}
			break
		}
		p.line(p.partial[:i])
		p.partial = p.partial[i+1:]
	}
	if len(p.partial) == 0 {
		p.partial = nil // let a large buffer go
	}
	return len(b), nil
}

// say writes one line of the sandbox's own; such lines are always shown.
func (p *partLog) say(msg string) {
	_, _ = p.Write([]byte(msg + "\n"))
}

// line handles one complete line (without its line break). p.mu is held.
func (p *partLog) line(b []byte) {
	text := string(bytes.TrimRight(b, "\r"))
	if len(p.tail) == tailLines {
		copy(p.tail, p.tail[1:])
		p.tail = p.tail[:tailLines-1]
	}
	p.tail = append(p.tail, text)
	if !p.sink.verbose && (!important(text) || p.isRoutine(text)) {
		return
	}
	out := make([]byte, 0, len(p.prefix)+len(text)+1)
	out = append(append(append(out, p.prefix...), text...), '\n')
	p.sink.writeLine(out)
}

func (p *partLog) isRoutine(line string) bool {
	for _, r := range p.routine {
		if strings.Contains(line, r) {
			return true
		}
	}
	return false
}

// lastLines returns the part's last log lines, oldest first, each indented for an error message.
func (p *partLog) lastLines() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tail) == 0 {
		return "  (no output)"
	}
	return "  " + strings.Join(p.tail, "\n  ")
}

// important reports whether a line is shown without Config.Verbose: warnings and errors of the
// structured logs the parts write (Caddy's console format, slog's JSON and text), and any line
// that is not a structured log at all, such as a compiler error or a panic.
func important(line string) bool {
	l := strings.ToLower(line)
	for _, level := range []string{"warn", "error", "fatal", "panic"} {
		if strings.Contains(l, `"level":"`+level) || strings.Contains(l, "level="+level) || strings.Contains(l, "\t"+level+"\t") {
			return true
		}
	}
	structured := strings.Contains(l, `"level":"`) || strings.Contains(l, "level=") ||
		strings.Contains(l, "\tinfo\t") || strings.Contains(l, "\tdebug\t")
	return !structured && strings.TrimSpace(l) != ""
}
