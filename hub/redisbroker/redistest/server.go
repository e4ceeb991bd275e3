// Package redistest runs real redis-server processes for tests: each on a port of its own on
// 127.0.0.1, without persistence, and stopped by its pid when the test ends. The broker's unit tests,
// the integration tests of edges sharing Redis and the scale-out benchmark use it. Besides one
// server, it runs a primary with a replica and three sentinels (StartSentinel) and a Redis Cluster
// (StartCluster).
//
// scripts/test.sh installs the Debian package redis-server when the binary is missing.
package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/spellcoven/gateway/internal/freeport"
	"github.com/spellcoven/gateway/internal/syncbuf"
)

// Binary is the redis-server executable, looked up in PATH.
const Binary = "redis-server"

// startTimeout bounds how long a starting server may take to answer PING.
const startTimeout = 10 * time.Second

// Server is a running redis-server.
type Server struct {
	t testing.TB
	// Port is the port it listens on, on 127.0.0.1; Restart keeps it.
	Port int
	// Args are the extra arguments it was started with (such as "--requirepass", "secret").
	Args []string
	// Conf is the configuration file it was started with, "" for none.
	Conf string

	cmd  *exec.Cmd
	done chan struct{}
	logs syncbuf.Buffer
}

// Start starts a redis-server with args added to its command line and stops it when the test ends.
// It fails the test when redis-server is not installed.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	return startConf(t, "", args...)
}

// startConf starts a redis-server on the configuration file conf ("" for none) with args added.
func startConf(t testing.TB, conf string, args ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath(Binary); err != nil {
		t.Fatalf("%s is not installed (scripts/test.sh installs the Debian package redis-server): %v", Binary, err)
	}
	// Its working directory is the test's: a replica writes what it receives from its primary there.
	args = append([]string{"--dir", t.TempDir()}, args...)
	s := &Server{t: t, Args: args, Conf: conf}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if s.Port, err = freeport.Pick(); err != nil {
			break
		}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Addr returns host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL returns redis://127.0.0.1:<port>/0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Pid returns the process id of the running server.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

func (s *Server) start() error {
	var args []string
	if s.Conf != "" {
		args = append(args, s.Conf)
	}
	args = append(args, "--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no")
	args = append(args, s.Args...)
	cmd := exec.Command(Binary, args...)
	cmd.Stdout, cmd.Stderr = &s.logs, &s.logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", Binary, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(startTimeout)
	for {
		err := ping(s.Addr())
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited at start:\n%s", Binary, s.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("%s did not answer within %v: %v\n%s", Binary, startTimeout, err, s.logs.String())
		}
	}
}

// ping sends PING and expects +PONG, or a NOAUTH error from a server that wants a password, which
// is as ready.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line == "+PONG\r\n" || bytes.HasPrefix([]byte(line), []byte("-NOAUTH")) {
		return nil
	}
	return fmt.Errorf("unexpected answer to PING: %q", line)
}

// Stop kills the server (SIGKILL: nothing is saved anyway) and waits for it. Stopping a stopped server
// does nothing.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// Restart stops the server and starts a new, empty one on the same port. Clients see their
// connections close and, on reconnecting, a Redis that holds nothing.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

// Start starts a new, empty server on the port of one stopped with Stop.
func (s *Server) Start() {
	s.t.Helper()
	var err error
	// The port was just released; another process taking it meanwhile is unlikely but possible.
	for attempt := 0; attempt < 50; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("restarting redis-server on port %d: %v", s.Port, err)
}

// Logs returns what the server printed.
func (s *Server) Logs() string { return s.logs.String() }
