package worker

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spellcoven/gateway/internal/atomicfile"
	"github.com/spellcoven/gateway/worker/discordgw"
	"github.com/spellcoven/gateway/worker/translate"
)

// SessionStateFile is the name, in the outbox directory, of the file that lets a restarted worker
// resume its Discord gateway session (see sessionState).
const SessionStateFile = "gateway-session.json"

// sessionState is what resuming the gateway session after a restart takes: the session's position
// (session_id, seq, resume_gateway_url), the mirror of the guild as it stood after dispatch seq, and
// the outbox position the events of those dispatches end at. The producer rewrites it just before
// every append to the outbox, so it matches the outbox exactly unless the process died between the
// two writes; a state that does not match the outbox (another epoch, another last seq) is not used,
// and the worker identifies as it would without one. It holds no secret (the token is not in it).
type sessionState struct {
	Version int       `json:"version"`
	SavedAt time.Time `json:"saved_at"`
	Epoch   string    `json:"outbox_epoch"`
	Last    uint64    `json:"outbox_last"`
	discordgw.Position
	// BotID is the bot's user id from the session's READY, which a resumed session does not
	// send again (voice and table view need it).
	BotID string          `json:"bot_id,omitempty"`
	Guild translate.State `json:"guild"`
}

const sessionStateVersion = 1

// saveSessionState writes st to path durably (0600).
func saveSessionState(path string, st sessionState) error {
	st.Version = sessionStateVersion
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, raw)
}

// loadSessionState reads the state saved in dir and returns it when it may be resumed: it matches
// the outbox (epoch, last) and was saved within maxAge. Otherwise it returns nil and why, "" when
// there is no state at all.
func loadSessionState(dir, epoch string, last uint64, maxAge time.Duration, now time.Time) (*sessionState, string) {
	raw, err := os.ReadFile(filepath.Join(dir, SessionStateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ""
	}
	if err != nil {
		return nil, err.Error()
	}
	var st sessionState
	if err := json.Unmarshal(raw, &st); err != nil || st.Version != sessionStateVersion {
		return nil, "the saved gateway session cannot be read"
	}
	switch age := now.Sub(st.SavedAt); {
	case !st.Position.Resumable():
		return nil, "no session was saved"
	case maxAge <= 0:
		return nil, "resuming after a restart is off (-gateway-resume-max-age 0)"
	case age > maxAge || age < -time.Minute:
		return nil, fmt.Sprintf("the saved session is %s old, more than -gateway-resume-max-age %s", age.Round(time.Second), maxAge)
	case st.Epoch != epoch || st.Last != last:
		return nil, fmt.Sprintf("the saved session ends at outbox %s/%d, the outbox at %s/%d", st.Epoch, st.Last, epoch, last)
	}
	return &st, ""
}
