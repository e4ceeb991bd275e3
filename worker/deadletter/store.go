// Package deadletter keeps, on disk, the events the edge refused in a way that retrying cannot fix
// (400 invalid, 413 too large, 401 after a fresh signature...), so that nothing the worker produced
// disappears silently. The worker's delivery loop puts letters; the `coven-worker deadletter`
// command lists them and asks for their replay; the running worker (or the next one to start)
// takes the letters asked for and appends their events to its outbox again.
//
// A letter is one JSON file in the store's directory; asking for a replay moves it into the replay/
// subdirectory. Every change is a write to a temporary file, an fsync and a rename, so the command
// and a running worker can share the directory without a lock.
package deadletter

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spellcoven/gateway/internal/atomicfile"
)

// DefaultMaxLetters bounds the letters a store holds.
const DefaultMaxLetters = 10_000

// ErrFull reports a store holding its maximum of letters.
var ErrFull = errors.New("deadletter: the store is full")

// Letter is a batch of events the edge refused, with its answer.
type Letter struct {
	// ID names the letter: "<epoch>-<first seq>-<last seq>".
	ID string `json:"id"`
	// At is when the edge refused the events.
	At time.Time `json:"at"`
	// Status is the edge's HTTP status; Code and Message its error body, if any.
	Status  int    `json:"status"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Events are the refused events as they were sent (contract v1 JSON).
	Events []json.RawMessage `json:"events"`
}

// Store is a dead-letter directory.
type Store struct {
	dir string
	max int
}

// Open opens (creating if needed) the store in dir, holding at most max letters (0 means
// DefaultMaxLetters).
func Open(dir string, max int) (*Store, error) {
	if max <= 0 {
		max = DefaultMaxLetters
	}
	if err := os.MkdirAll(filepath.Join(dir, replayDir), 0o700); err != nil {
		return nil, fmt.Errorf("deadletter: %w", err)
	}
	return &Store{dir: dir, max: max}, nil
}

const replayDir = "replay"

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Put stores a letter. Putting a letter with the ID of one already stored replaces it (a batch
// refused again after a crash). It fails with ErrFull when the store holds its maximum.
func (s *Store) Put(l Letter) error {
	if !validID(l.ID) {
		return fmt.Errorf("deadletter: invalid letter id %q", l.ID)
	}
	n, err := s.Count()
	if err != nil {
		return err
	}
	path := filepath.Join(s.dir, l.ID+".json")
	if _, err := os.Stat(path); n >= s.max && err != nil {
		return fmt.Errorf("%w (%d letters in %s)", ErrFull, n, s.dir)
	}
	raw, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("deadletter: %w", err)
	}
	if err := atomicfile.Write(path, raw); err != nil {
		return fmt.Errorf("deadletter: %w", err)
	}
	return nil
}

// Count returns how many letters the store holds, replays not yet taken included.
func (s *Store) Count() (int, error) {
	a, err := letterFiles(s.dir)
	if err != nil {
		return 0, err
	}
	b, err := letterFiles(filepath.Join(s.dir, replayDir))
	return len(a) + len(b), err
}

// List returns the letters waiting in the store (not those asked for replay), oldest first.
func (s *Store) List() ([]Letter, error) { return readLetters(s.dir) }

// RequestReplay marks letters for replay: the worker appends their events to its outbox again.
// No ids means every letter. It returns how many letters it marked; an unknown id is an error that
// marks nothing.
func (s *Store) RequestReplay(ids ...string) (int, error) {
	if len(ids) == 0 {
		all, err := letterFiles(s.dir)
		if err != nil {
			return 0, err
		}
		for _, name := range all {
			ids = append(ids, strings.TrimSuffix(name, ".json"))
		}
	}
	for _, id := range ids {
		if !validID(id) {
			return 0, fmt.Errorf("deadletter: invalid letter id %q", id)
		}
		if _, err := os.Stat(filepath.Join(s.dir, id+".json")); err != nil {
			return 0, fmt.Errorf("deadletter: no letter %q in %s", id, s.dir)
		}
	}
	for i, id := range ids {
		if err := os.Rename(filepath.Join(s.dir, id+".json"), filepath.Join(s.dir, replayDir, id+".json")); err != nil {
			return i, fmt.Errorf("deadletter: %w", err)
		}
	}
	return len(ids), atomicfile.SyncDir(s.dir)
}

// Return puts a letter asked for replay back among the waiting letters, for one that cannot be
// replayed.
func (s *Store) Return(id string) error {
	if !validID(id) {
		return fmt.Errorf("deadletter: invalid letter id %q", id)
	}
	if err := os.Rename(filepath.Join(s.dir, replayDir, id+".json"), filepath.Join(s.dir, id+".json")); err != nil {
		return fmt.Errorf("deadletter: %w", err)
	}
	return atomicfile.SyncDir(s.dir)
}

// Replays returns the letters asked for replay, oldest first.
func (s *Store) Replays() ([]Letter, error) { return readLetters(filepath.Join(s.dir, replayDir)) }

// Replayed removes a letter whose events were appended again.
func (s *Store) Replayed(id string) error {
	if !validID(id) {
		return fmt.Errorf("deadletter: invalid letter id %q", id)
	}
	if err := os.Remove(filepath.Join(s.dir, replayDir, id+".json")); err != nil {
		return fmt.Errorf("deadletter: %w", err)
	}
	return atomicfile.SyncDir(filepath.Join(s.dir, replayDir))
}

func letterFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("deadletter: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func readLetters(dir string) ([]Letter, error) {
	names, err := letterFiles(dir)
	if err != nil {
		return nil, err
	}
	out := make([]Letter, 0, len(names))
	for _, name := range names {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue // taken for replay meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("deadletter: %w", err)
		}
		var l Letter
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, fmt.Errorf("deadletter: %s is not a letter: %v", name, err)
		}
		out = append(out, l)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// validID accepts what the delivery loop makes: epoch characters, digits and '-'. It keeps ids from
// naming paths outside the store.
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == ':') {
			return false
		}
	}
	return true
}
