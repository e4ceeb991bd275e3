// Package daveytest runs @snazzah/davey, an independent DAVE implementation built on OpenMLS,
// as a peer for the interoperability tests of voice/dave and its MLS layer. The peer is a node
// process (voice/dave/testdata/peer.js) answering one JSON request per line.
//
// Only tests use it. The node modules must be installed (scripts/test.sh runs npm ci for every
// committed package-lock.json); when they are missing the test fails with the command to run.
package daveytest

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Timeout bounds one request to the peer.
const Timeout = 20 * time.Second

// Peer is a running davey process holding any number of named DAVE sessions.
type Peer struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte
	mu     sync.Mutex
	nextID int
	done   chan struct{}
}

// testdataDir locates voice/dave/testdata from this source file.
func testdataDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata")
}

// Start launches the peer; it is stopped when the test ends.
func Start(t testing.TB) *Peer {
	t.Helper()
	dir := testdataDir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@snazzah", "davey")); err != nil {
		t.Fatalf("node modules for the DAVE interop tests are missing; run: (cd voice/dave/testdata && npm ci)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "peer.js")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Peer{t: t, cmd: cmd, stdin: stdin, lines: make(chan []byte, 16), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 1<<16), 1<<24)
		for sc.Scan() {
			p.lines <- append([]byte(nil), sc.Bytes()...)
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			cancel()
			<-p.done
		}
		cancel()
		_ = cmd.Wait()
	})
	return p
}

// Call sends one request and decodes the answer into out (which may be nil). An error
// answer from davey is returned as an error.
func (p *Peer) Call(cmd string, args map[string]any, out any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextID++
	req := map[string]any{"id": p.nextID, "cmd": cmd}
	for k, v := range args {
		if b, ok := v.([]byte); ok {
			v = base64.StdEncoding.EncodeToString(b)
		}
		req[k] = v
	}
	line, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := p.stdin.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("davey peer: %w", err)
	}
	select {
	case resp, ok := <-p.lines:
		if !ok {
			return errors.New("davey peer exited")
		}
		var head struct {
			ID    int    `json:"id"`
			Error string `json:"error"`
		}
		if err := json.Unmarshal(resp, &head); err != nil {
			return fmt.Errorf("davey peer: %w", err)
		}
		if head.ID != p.nextID {
			return fmt.Errorf("davey peer answered request %d, want %d", head.ID, p.nextID)
		}
		if head.Error != "" {
			return errors.New("davey: " + head.Error)
		}
		if out != nil {
			return json.Unmarshal(resp, out)
		}
		return nil
	case <-time.After(Timeout):
		return fmt.Errorf("davey peer did not answer %s within %v", cmd, Timeout)
	}
}

// Must is Call that fails the test on error.
func (p *Peer) Must(cmd string, args map[string]any, out any) {
	p.t.Helper()
	if err := p.Call(cmd, args, out); err != nil {
		p.t.Fatalf("%s: %v", cmd, err)
	}
}

// Bytes is a base64 field of a peer answer.
type Bytes []byte

// UnmarshalJSON decodes base64; an absent or null field stays nil.
func (b *Bytes) UnmarshalJSON(data []byte) error {
	var s *string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	if s == nil {
		*b = nil
		return nil
	}
	d, err := base64.StdEncoding.DecodeString(*s)
	*b = d
	return err
}

// Data is the answer of commands returning one buffer.
type Data struct {
	Data Bytes `json:"data"`
}

// CommitWelcome is processProposals' answer.
type CommitWelcome struct {
	Commit  Bytes `json:"commit"`
	Welcome Bytes `json:"welcome"`
}

// Status is a session's state.
type Status struct {
	Epoch              int64    `json:"epoch"`
	Status             int      `json:"status"`
	Ready              bool     `json:"ready"`
	OwnLeafIndex       *int     `json:"ownLeafIndex"`
	UserIDs            []string `json:"userIds"`
	EpochAuthenticator Bytes    `json:"epochAuthenticator"`
	PrivacyCode        string   `json:"privacyCode"`
}

// Session is a handle on one named davey session.
type Session struct {
	p         *Peer
	name      string
	channelID uint64
}

// NewSession creates a DAVE protocol version 1 session for a user in a channel.
func (p *Peer) NewSession(name string, userID, channelID uint64) *Session {
	p.t.Helper()
	p.Must("new", map[string]any{"session": name, "userId": fmt.Sprint(userID), "channelId": fmt.Sprint(channelID)}, nil)
	return &Session{p: p, name: name, channelID: channelID}
}

func (s *Session) args(kv ...any) map[string]any {
	m := map[string]any{"session": s.name}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// SetExternalSender passes opcode 25's payload.
func (s *Session) SetExternalSender(data []byte) error {
	return s.p.Call("setExternalSender", s.args("data", data), nil)
}

// Reinit resets the session for a new group (after opcode 24 with epoch 1).
func (s *Session) Reinit(userID uint64) {
	s.p.t.Helper()
	s.p.Must("reinit", s.args("userId", fmt.Sprint(userID), "channelId", fmt.Sprint(s.channelID)), nil)
}

// KeyPackage returns a fresh serialized key package.
func (s *Session) KeyPackage() []byte {
	s.p.t.Helper()
	var d Data
	s.p.Must("keyPackage", s.args(), &d)
	return d.Data
}

// ProcessProposals passes opcode 27's payload after its operation type byte.
func (s *Session) ProcessProposals(opType int, data []byte, recognized []string) (CommitWelcome, error) {
	var cw CommitWelcome
	args := s.args("opType", opType, "data", data)
	if recognized != nil {
		args["recognized"] = recognized
	}
	err := s.p.Call("processProposals", args, &cw)
	return cw, err
}

// ProcessCommit passes a commit MLSMessage.
func (s *Session) ProcessCommit(data []byte) error {
	return s.p.Call("processCommit", s.args("data", data), nil)
}

// ProcessWelcome passes a bare Welcome.
func (s *Session) ProcessWelcome(data []byte) error {
	return s.p.Call("processWelcome", s.args("data", data), nil)
}

// Encrypt frame-encrypts a frame (mediaType 0 audio, 1 video; codec 1 Opus, 2 VP8).
func (s *Session) Encrypt(mediaType, codec int, frame []byte) ([]byte, error) {
	var d Data
	err := s.p.Call("encrypt", s.args("mediaType", mediaType, "codec", codec, "data", frame), &d)
	return d.Data, err
}

// Decrypt frame-decrypts a frame from userID.
func (s *Session) Decrypt(userID uint64, mediaType int, frame []byte) ([]byte, error) {
	var d Data
	err := s.p.Call("decrypt", s.args("userId", fmt.Sprint(userID), "mediaType", mediaType, "data", frame), &d)
	return d.Data, err
}

// SetPassthrough sets passthrough mode on every decryptor.
func (s *Session) SetPassthrough(mode bool, expirySeconds int) {
	s.p.t.Helper()
	s.p.Must("setPassthrough", s.args("mode", mode, "expiry", expirySeconds), nil)
}

// Status returns the session's state.
func (s *Session) Status() Status {
	s.p.t.Helper()
	var st Status
	s.p.Must("status", s.args(), &st)
	return st
}

// TryKeyPackage is KeyPackage returning the error, for callers off the test goroutine.
func (s *Session) TryKeyPackage() ([]byte, error) {
	var d Data
	err := s.p.Call("keyPackage", s.args(), &d)
	return d.Data, err
}

// TryReinit is Reinit returning the error.
func (s *Session) TryReinit(userID uint64) error {
	return s.p.Call("reinit", s.args("userId", fmt.Sprint(userID), "channelId", fmt.Sprint(s.channelID)), nil)
}

// TryStatus is Status returning the error.
func (s *Session) TryStatus() (Status, error) {
	var st Status
	err := s.p.Call("status", s.args(), &st)
	return st, err
}
