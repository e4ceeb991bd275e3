package dave

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spellcoven/gateway/voice/dave/internal/mls"
)

// Opcode is a voice gateway opcode of the DAVE protocol (21-31).
type Opcode uint8

// DAVE's voice gateway opcodes. 21, 22, 23, 24 and 31 are JSON; the others binary.
const (
	OpPrepareTransition    Opcode = 21 // S->C JSON {transition_id, protocol_version}
	OpExecuteTransition    Opcode = 22 // S->C JSON {transition_id}
	OpTransitionReady      Opcode = 23 // C->S JSON {transition_id}
	OpPrepareEpoch         Opcode = 24 // S->C JSON {epoch, protocol_version}
	OpExternalSender       Opcode = 25 // S->C binary ExternalSender
	OpKeyPackage           Opcode = 26 // C->S binary KeyPackage
	OpProposals            Opcode = 27 // S->C binary proposals to append or revoke
	OpCommitWelcome        Opcode = 28 // C->S binary commit [+ Welcome]
	OpAnnounceCommit       Opcode = 29 // S->C binary transition ID + commit
	OpWelcome              Opcode = 30 // S->C binary transition ID + Welcome
	OpInvalidCommitWelcome Opcode = 31 // C->S JSON {transition_id}
)

// IsBinary reports whether op travels as a binary WebSocket message.
func (op Opcode) IsBinary() bool {
	switch op {
	case OpExternalSender, OpKeyPackage, OpProposals, OpCommitWelcome, OpAnnounceCommit, OpWelcome:
		return true
	}
	return false
}

// IsDAVE reports whether op is one of DAVE's opcodes.
func (op Opcode) IsDAVE() bool { return op >= OpPrepareTransition && op <= OpInvalidCommitWelcome }

// Transition is the payload of opcodes 22, 23 and 31.
type Transition struct {
	TransitionID uint16 `json:"transition_id"`
}

// PrepareTransition is opcode 21's payload, which always carries the protocol version.
type PrepareTransition struct {
	TransitionID    uint16 `json:"transition_id"`
	ProtocolVersion int    `json:"protocol_version"`
}

// PrepareEpoch is opcode 24's payload.
type PrepareEpoch struct {
	Epoch           uint64 `json:"epoch"`
	ProtocolVersion int    `json:"protocol_version"`
}

// Message is one DAVE message between a member and the voice gateway. Binary messages carry
// Payload (the bytes after the opcode); JSON ones carry Data (the value of "d").
type Message struct {
	Op      Opcode
	Payload []byte
	Data    any
}

// ClientFrame returns a client-to-server binary message: [opcode][payload].
func (m Message) ClientFrame() []byte {
	return append([]byte{byte(m.Op)}, m.Payload...)
}

// ServerFrame returns a server-to-client binary message: [seq u16][opcode][payload].
func (m Message) ServerFrame(seq uint16) []byte {
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 3+len(m.Payload)), seq)
	b = append(b, byte(m.Op))
	return append(b, m.Payload...)
}

// MarshalJSON encodes a JSON message as the gateway envelope {"op", "d"}.
func (m Message) MarshalJSON() ([]byte, error) {
	if m.Op.IsBinary() {
		return nil, fmt.Errorf("dave: opcode %d is binary", m.Op)
	}
	return json.Marshal(struct {
		Op Opcode `json:"op"`
		D  any    `json:"d"`
	}{m.Op, m.Data})
}

// ParseServerFrame splits a server-to-client binary message into sequence number, opcode and
// payload.
func ParseServerFrame(b []byte) (seq uint16, op Opcode, payload []byte, err error) {
	if len(b) < 3 {
		return 0, 0, nil, errors.New("dave: binary message shorter than its header")
	}
	return binary.BigEndian.Uint16(b), Opcode(b[2]), b[3:], nil
}

// ParseClientFrame splits a client-to-server binary message into opcode and payload.
func ParseClientFrame(b []byte) (Opcode, []byte, error) {
	if len(b) < 1 {
		return 0, nil, errors.New("dave: empty binary message")
	}
	return Opcode(b[0]), b[1:], nil
}

// Proposal operation types of opcode 27.
const (
	proposalsAppend uint8 = 0
	proposalsRevoke uint8 = 1
)

// proposalsPayload encodes opcode 27: append carries MLSMessages, revoke proposal refs.
func proposalsPayload(revoke bool, items [][]byte) []byte {
	w := mls.NewWriter(nil)
	if revoke {
		w.Uint8(proposalsRevoke)
		w.Vector(func(w *mls.Writer) {
			for _, ref := range items {
				w.Opaque(ref)
			}
		})
	} else {
		w.Uint8(proposalsAppend)
		w.Vector(func(w *mls.Writer) {
			for _, m := range items {
				w.Raw(m)
			}
		})
	}
	return w.Bytes()
}

// parsedProposals is a decoded opcode 27.
type parsedProposals struct {
	revoke    bool
	proposals []*mls.PublicMessage
	refs      [][]byte
}

// maxProposalsPerMessage bounds opcode 27's list.
const maxProposalsPerMessage = 1024

func parseProposals(payload []byte) (*parsedProposals, error) {
	r := mls.NewReader(payload)
	p := &parsedProposals{}
	switch op := r.Uint8(); op {
	case proposalsAppend:
		r.Vector(func(r *mls.Reader) {
			m := mls.ReadMessage(r)
			if r.Err() != nil {
				return
			}
			if m.WireFormat != mls.WireFormatPublicMessage {
				r.Failf("proposal is not a PublicMessage")
				return
			}
			if len(p.proposals) == maxProposalsPerMessage {
				r.Failf("more than %d proposals", maxProposalsPerMessage)
				return
			}
			p.proposals = append(p.proposals, m.Public)
		})
	case proposalsRevoke:
		p.revoke = true
		r.Vector(func(r *mls.Reader) {
			if len(p.refs) == maxProposalsPerMessage {
				r.Failf("more than %d proposal refs", maxProposalsPerMessage)
				return
			}
			p.refs = append(p.refs, r.Opaque())
		})
	default:
		if r.Err() == nil {
			return nil, fmt.Errorf("dave: proposals operation type %d", op)
		}
	}
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("dave: proposals: %w", err)
	}
	return p, nil
}

// commitWelcomePayload encodes opcode 28: the commit MLSMessage, then the bare Welcome when
// the commit adds members.
func commitWelcomePayload(commit []byte, welcome *mls.Welcome) []byte {
	b := append([]byte(nil), commit...)
	if welcome != nil {
		b = append(b, welcome.Encode()...)
	}
	return b
}

// parseCommitWelcome splits opcode 28 into the commit MLSMessage (as sent) and the Welcome.
func parseCommitWelcome(payload []byte) ([]byte, *mls.Welcome, error) {
	r := mls.NewReader(payload)
	m := mls.ReadMessage(r)
	if err := r.Err(); err != nil {
		return nil, nil, fmt.Errorf("dave: commit: %w", err)
	}
	if m.WireFormat != mls.WireFormatPublicMessage {
		return nil, nil, errors.New("dave: commit is not a PublicMessage")
	}
	commit := payload[:len(payload)-r.Len()]
	if r.Len() == 0 {
		return commit, nil, nil
	}
	w := mls.ReadWelcome(r)
	if err := r.Finish(); err != nil {
		return nil, nil, fmt.Errorf("dave: welcome: %w", err)
	}
	return commit, w, nil
}

// transitionPayload encodes opcodes 29 and 30: a transition ID, then the message.
func transitionPayload(id uint16, msg []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, id), msg...)
}

func parseTransitionPayload(payload []byte) (uint16, []byte, error) {
	if len(payload) < 2 {
		return 0, nil, errors.New("dave: payload lacks its transition ID")
	}
	return binary.BigEndian.Uint16(payload), payload[2:], nil
}
