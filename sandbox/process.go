package sandbox

import (
	"fmt"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"
)

// process is a child process of the sandbox (the edge or the worker) whose output goes to its part
// log. It knows whether its end was asked for, so an unexpected exit can be reported.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *partLog
	done chan struct{}
	// err is the exit error; read it only after done is closed.
	err error
	// stopping is set before the sandbox signals the process, so its exit is not a failure.
	stopping atomic.Bool
}

// startProcess starts bin with args and exactly env (nothing is inherited), its output going to log.
// onExit, if not nil, runs once the process has exited without being asked to.
func startProcess(name, bin string, args, env []string, log *partLog, onExit func(error)) (*process, error) {
	p := &process{name: name, log: log, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	detach(p.cmd)
	// One writer for both streams: exec then copies them from one goroutine.
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
		if onExit != nil && !p.stopping.Load() {
			onExit(p.exitError())
		}
	}()
	return p, nil
}

// exitError describes the exit with the process's last log lines. Call it after done is closed.
func (p *process) exitError() error {
	return fmt.Errorf("%s exited (%v); its last lines:\n%s", p.name, p.err, p.log.lastLines())
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to timeout for the exit, then kills the process. It returns an
// error when the process did not exit cleanly (killed, or a non-zero exit status).
func (p *process) stop(timeout time.Duration) error {
	p.stopping.Store(true)
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %v of SIGTERM and was killed", p.name, timeout)
	}
	if p.err != nil {
		return fmt.Errorf("%s stopped with %v; its last lines:\n%s", p.name, p.err, p.log.lastLines())
	}
	return nil
}

// kill ends the process with SIGKILL, as a crash or the OOM killer would, and waits for it.
func (p *process) kill() {
	p.stopping.Store(true)
	// Signal fails only when the process has already exited; done is closed then.
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}
