// Package proc runs the stack's processes for the programs that start them: the sandbox, the
// load tool (cmd/coven-bench) and the tests' harnesses. It builds the binaries, starts a process
// with its output sent to a writer, waits until an HTTP endpoint of it answers, and stops it,
// telling an exit that was asked for from one that was not. It holds no test helper: the test
// harnesses (internal/edgetest, tests/stack) wrap it.
package proc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"
)

// Build compiles the package pkg (e.g. "./cmd/caddy") of the module at repoRoot into dir and
// returns the binary's path. The compiler's output goes to out, where errors always show.
func Build(ctx context.Context, repoRoot, pkg, dir string, out io.Writer) (string, error) {
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Dir = repoRoot
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("go build %s: %w", pkg, err)
	}
	return bin, nil
}

// Options shape a process.
type Options struct {
	// Env is the whole environment (nil: this process's).
	Env []string
	// Output receives stdout and stderr (nil: discarded).
	Output io.Writer
	// Detach puts the process in a process group of its own, so that Ctrl-C in a terminal
	// reaches the parent alone, and has the kernel kill it if the parent dies (Linux).
	Detach bool
	// OnExit, when set, runs once the process has exited without being asked to (Stop, Kill),
	// with ExitError.
	OnExit func(error)
}

// Process is a running child process.
type Process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	// err is the exit error; read it only after done is closed.
	err error
	// stopping is set before the process is signalled, so its exit is not reported by OnExit.
	stopping atomic.Bool
	// group is set when the process leads a process group of its own: signals go to the group.
	group bool
	tail  *tailWriter
}

// Start starts bin with args as o says. name names it in errors.
func Start(name, bin string, args []string, o Options) (*Process, error) {
	p := &Process{name: name, done: make(chan struct{}), tail: newTailWriter(4 << 10)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = o.Env
	// A child the process left behind may hold its output open: once the process has exited,
	// Wait gives up on the output after this long rather than wait for the orphan.
	p.cmd.WaitDelay = 2 * time.Second
	if o.Detach {
		p.group = detach(p.cmd)
	}
	out := io.Writer(p.tail)
	if o.Output != nil {
		out = io.MultiWriter(o.Output, p.tail)
	}
	// One writer for both streams: exec then copies them from one goroutine.
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
		if o.OnExit != nil && !p.stopping.Load() {
			o.OnExit(p.ExitError())
		}
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the exit status (-1 while running or when killed by a signal).
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// ExitError describes the exit with the process's last output. Call it after Done is closed.
func (p *Process) ExitError() error {
	return fmt.Errorf("%s exited (%v); its last lines:\n%s", p.name, p.err, p.tail.String())
}

// Signal sends sig (to the process group of a detached process), as a stop would, without
// waiting.
func (p *Process) Signal(sig syscall.Signal) {
	p.stopping.Store(true)
	// Signalling fails only when the process has already exited.
	if p.group {
		_ = signalGroup(p.cmd.Process.Pid, sig)
		return
	}
	_ = p.cmd.Process.Signal(sig)
}

// Stop sends sig and waits up to grace for the exit, then kills the process. It returns an
// error when the process had to be killed or exited with a failure status.
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) error {
	if !p.Exited() {
		p.Signal(sig)
	}
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Signal(syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s did not stop within %v of %v and was killed", p.name, grace, sig)
	}
	if p.err != nil && sig != syscall.SIGKILL {
		return fmt.Errorf("%s stopped with %v; its last lines:\n%s", p.name, p.err, p.tail.String())
	}
	return nil
}

// Kill ends the process with SIGKILL, as a crash or the OOM killer would, and waits for it.
func (p *Process) Kill() {
	p.Signal(syscall.SIGKILL)
	<-p.done
}

// WaitHTTP polls url with c until it answers (any HTTP status), the process exits, ctx ends or
// timeout passes.
func (p *Process) WaitHTTP(ctx context.Context, c *http.Client, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer %s within %v: %v; its last lines:\n%s", p.name, url, timeout, err, p.tail.String())
		}
		select {
		case <-p.done:
			return p.ExitError()
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Alive reports whether a process with this id exists (on Linux; elsewhere, always true).
func Alive(pid int) bool { return alive(pid) }

// tailWriter keeps the last n bytes written to it.
type tailWriter struct {
	n   int
	buf atomic.Pointer[[]byte]
}

func newTailWriter(n int) *tailWriter {
	t := &tailWriter{n: n}
	t.buf.Store(new([]byte))
	return t
}

func (t *tailWriter) Write(b []byte) (int, error) {
	for {
		old := t.buf.Load()
		next := append(append([]byte(nil), (*old)...), b...)
		if len(next) > t.n {
			next = next[len(next)-t.n:]
		}
		if t.buf.CompareAndSwap(old, &next) {
			return len(b), nil
		}
	}
}

func (t *tailWriter) String() string { return string(*t.buf.Load()) }
