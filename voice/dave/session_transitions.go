package dave

import (
	"encoding/json"
	"fmt"
)

// HandleJSON handles a JSON DAVE opcode from the voice gateway (21, 22 or 24) given the raw
// value of its "d" field.
func (s *Session) HandleJSON(op Opcode, d []byte) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch op {
	case OpPrepareTransition:
		var p PrepareTransition
		if err := json.Unmarshal(d, &p); err != nil {
			return nil, fmt.Errorf("dave: prepare transition: %w", err)
		}
		if err := checkVersion(p.ProtocolVersion); err != nil {
			return nil, err
		}
		return s.onPrepareTransition(p), nil
	case OpExecuteTransition:
		var t Transition
		if err := json.Unmarshal(d, &t); err != nil {
			return nil, fmt.Errorf("dave: execute transition: %w", err)
		}
		if s.pending == nil || s.pending.TransitionID != t.TransitionID {
			return nil, fmt.Errorf("dave: execute of transition %d, which was not prepared", t.TransitionID)
		}
		s.executeLocked(t.TransitionID, s.pending.ProtocolVersion)
		return nil, nil
	case OpPrepareEpoch:
		var p PrepareEpoch
		if err := json.Unmarshal(d, &p); err != nil {
			return nil, fmt.Errorf("dave: prepare epoch: %w", err)
		}
		if err := checkVersion(p.ProtocolVersion); err != nil {
			return nil, err
		}
		if p.Epoch != 1 {
			// The group stays; only the version may change, which version 1 never does.
			return nil, nil
		}
		s.protocolVersion = p.ProtocolVersion
		if p.ProtocolVersion == 0 {
			return nil, nil
		}
		return s.resetGroupLocked()
	default:
		return nil, fmt.Errorf("dave: unexpected JSON opcode %d", op)
	}
}

func (s *Session) onPrepareTransition(p PrepareTransition) []Message {
	s.pending = &p
	if p.TransitionID == 0 {
		// (Re)initialization, e.g. a sole member's reset: executes at once.
		s.executeLocked(0, p.ProtocolVersion)
		return nil
	}
	if p.ProtocolVersion == 0 {
		// Downgrade: accept clear media from now on.
		s.setPassthroughLocked(true)
	}
	return []Message{{Op: OpTransitionReady, Data: Transition{TransitionID: p.TransitionID}}}
}

// executeLocked switches to the prepared state: the sender key of the newest group (or clear
// media for version 0), and the grace period for the previous keys.
func (s *Session) executeLocked(tid uint16, version int) {
	s.pending = nil
	wasReady := s.ready && s.protocolVersion > 0
	s.protocolVersion = version
	if version == 0 {
		s.encryptor.setPassthrough()
		s.setPassthroughLocked(true)
		s.ready = false // no longer end-to-end encrypted until a group executes again
		return
	}
	r := s.nextSendRatchet
	if r == nil && s.group != nil && !s.established {
		// Sole member reset: media goes out under the new pending group's key.
		r = newKeyRatchet(senderBaseSecret(s.group, s.cfg.UserID))
	}
	if r == nil {
		return
	}
	s.nextSendRatchet = nil
	s.encryptor.setRatchet(r)
	s.ready = true
	s.dmu.RLock()
	for _, d := range s.decryptors {
		d.retireOld()
	}
	s.dmu.RUnlock()
	if !wasReady {
		s.setPassthroughLocked(false)
	}
	if s.established {
		s.privacyCode, _ = DisplayableCode(s.group.EpochAuthenticator(), 30, 5)
	}
}

// setPassthroughLocked opens (on) or winds down (off, after the retention period) clear
// media acceptance for every sender.
func (s *Session) setPassthroughLocked(on bool) {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	s.passForever = on
	for _, d := range s.decryptors {
		d.setPassthrough(on)
	}
}
