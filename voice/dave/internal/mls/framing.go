package mls

import (
	"errors"
	"fmt"
)

// Wire formats (RFC 9420 Section 6).
const (
	WireFormatPublicMessage  uint16 = 1
	WireFormatPrivateMessage uint16 = 2
	WireFormatWelcome        uint16 = 3
	WireFormatGroupInfo      uint16 = 4
	WireFormatKeyPackage     uint16 = 5
)

// Sender types.
const (
	SenderMember   uint8 = 1
	SenderExternal uint8 = 2
)

// Content types.
const (
	ContentApplication uint8 = 1
	ContentProposal    uint8 = 2
	ContentCommit      uint8 = 3
)

// Sender names who sent a message: a member by leaf index, or an external sender by its
// position in the external_senders extension.
type Sender struct {
	Type  uint8
	Index uint32
}

func (s *Sender) encode(w *Writer) {
	w.Uint8(s.Type)
	if s.Type == SenderMember || s.Type == SenderExternal {
		w.Uint32(s.Index)
	}
}

func (s *Sender) decode(r *Reader) {
	s.Type = r.Uint8()
	switch s.Type {
	case SenderMember, SenderExternal:
		s.Index = r.Uint32()
	case 3, 4: // new_member_proposal, new_member_commit: decoded, then refused by the group
	default:
		r.Failf("invalid sender type %d", s.Type)
	}
}

// FramedContent is a handshake or application message's content before protection.
type FramedContent struct {
	GroupID           []byte
	Epoch             uint64
	Sender            Sender
	AuthenticatedData []byte
	ContentType       uint8
	ApplicationData   []byte    // ContentApplication
	Proposal          *Proposal // ContentProposal
	Commit            *Commit   // ContentCommit
}

func (c *FramedContent) encode(w *Writer) {
	w.Opaque(c.GroupID)
	w.Uint64(c.Epoch)
	c.Sender.encode(w)
	w.Opaque(c.AuthenticatedData)
	w.Uint8(c.ContentType)
	switch c.ContentType {
	case ContentApplication:
		w.Opaque(c.ApplicationData)
	case ContentProposal:
		c.Proposal.encode(w)
	case ContentCommit:
		c.Commit.encode(w)
	}
}

func (c *FramedContent) decode(r *Reader) {
	c.GroupID = r.Opaque()
	c.Epoch = r.Uint64()
	c.Sender.decode(r)
	c.AuthenticatedData = r.Opaque()
	c.ContentType = r.Uint8()
	switch c.ContentType {
	case ContentApplication:
		c.ApplicationData = r.Opaque()
	case ContentProposal:
		c.Proposal = new(Proposal)
		c.Proposal.decode(r)
	case ContentCommit:
		c.Commit = new(Commit)
		c.Commit.decode(r)
	default:
		r.Failf("invalid content type %d", c.ContentType)
	}
}

// PublicMessage is a signed, unencrypted handshake message: how DAVE carries every proposal
// and commit.
type PublicMessage struct {
	Content         FramedContent
	Signature       []byte
	ConfirmationTag []byte // commits
	MembershipTag   []byte // member senders
}

func (m *PublicMessage) encodeAuth(w *Writer) {
	w.Opaque(m.Signature)
	if m.Content.ContentType == ContentCommit {
		w.Opaque(m.ConfirmationTag)
	}
}

func (m *PublicMessage) encode(w *Writer) {
	m.Content.encode(w)
	m.encodeAuth(w)
	if m.Content.Sender.Type == SenderMember {
		w.Opaque(m.MembershipTag)
	}
}

func (m *PublicMessage) decode(r *Reader) {
	m.Content.decode(r)
	m.Signature = r.Opaque()
	if m.Content.ContentType == ContentCommit {
		m.ConfirmationTag = r.Opaque()
	}
	if m.Content.Sender.Type == SenderMember {
		m.MembershipTag = r.Opaque()
	}
}

// tbs encodes FramedContentTBS; groupContext is the serialized GroupContext, included for
// member senders only.
func (m *PublicMessage) tbs(groupContext []byte) []byte {
	w := NewWriter(nil)
	w.Uint16(ProtocolVersionMLS10)
	w.Uint16(WireFormatPublicMessage)
	m.Content.encode(w)
	if m.Content.Sender.Type == SenderMember {
		w.Raw(groupContext)
	}
	return w.Bytes()
}

func (m *PublicMessage) sign(key *SigningKey, groupContext []byte) error {
	sig, err := key.signWithLabel("FramedContentTBS", m.tbs(groupContext))
	if err != nil {
		return err
	}
	m.Signature = sig
	return nil
}

func (m *PublicMessage) verifySignature(pub, groupContext []byte) error {
	return verifyWithLabel(pub, "FramedContentTBS", m.tbs(groupContext), m.Signature)
}

// tbm encodes AuthenticatedContentTBM, the input of the membership tag.
func (m *PublicMessage) tbm(groupContext []byte) []byte {
	w := NewWriter(m.tbs(groupContext))
	m.encodeAuth(w)
	return w.Bytes()
}

// authenticatedContent encodes AuthenticatedContent, the input of proposal references.
func (m *PublicMessage) authenticatedContent() []byte {
	w := NewWriter(nil)
	w.Uint16(WireFormatPublicMessage)
	m.Content.encode(w)
	m.encodeAuth(w)
	return w.Bytes()
}

// ProposalRef returns RefHash("MLS 1.0 Proposal Reference", AuthenticatedContent) of a
// proposal message.
func (m *PublicMessage) ProposalRef() []byte {
	return refHash("MLS 1.0 Proposal Reference", m.authenticatedContent())
}

// confirmedTranscriptInput encodes ConfirmedTranscriptHashInput of a commit.
func (m *PublicMessage) confirmedTranscriptInput() []byte {
	w := NewWriter(nil)
	w.Uint16(WireFormatPublicMessage)
	m.Content.encode(w)
	w.Opaque(m.Signature)
	return w.Bytes()
}

// Message is an MLSMessage: a PublicMessage, Welcome, GroupInfo or KeyPackage.
type Message struct {
	WireFormat uint16
	Public     *PublicMessage
	Welcome    *Welcome
	GroupInfo  *GroupInfo
	KeyPackage *KeyPackage
}

// Encode returns the MLSMessage encoding.
func (m *Message) Encode() []byte {
	w := NewWriter(nil)
	m.encode(w)
	return w.Bytes()
}

func (m *Message) encode(w *Writer) {
	w.Uint16(ProtocolVersionMLS10)
	w.Uint16(m.WireFormat)
	switch m.WireFormat {
	case WireFormatPublicMessage:
		m.Public.encode(w)
	case WireFormatWelcome:
		m.Welcome.encode(w)
	case WireFormatGroupInfo:
		m.GroupInfo.encode(w)
	case WireFormatKeyPackage:
		m.KeyPackage.encode(w)
	}
}

// ErrPrivateMessage reports a PrivateMessage, which DAVE never uses.
var ErrPrivateMessage = errors.New("mls: PrivateMessage is not used by DAVE")

func (m *Message) decode(r *Reader) {
	if v := r.Uint16(); r.Err() == nil && v != ProtocolVersionMLS10 {
		r.Failf("protocol version %d", v)
		return
	}
	m.WireFormat = r.Uint16()
	switch m.WireFormat {
	case WireFormatPublicMessage:
		m.Public = new(PublicMessage)
		m.Public.decode(r)
	case WireFormatPrivateMessage:
		r.Fail(ErrPrivateMessage)
	case WireFormatWelcome:
		m.Welcome = new(Welcome)
		m.Welcome.decode(r)
	case WireFormatGroupInfo:
		m.GroupInfo = new(GroupInfo)
		m.GroupInfo.decode(r)
	case WireFormatKeyPackage:
		m.KeyPackage = new(KeyPackage)
		m.KeyPackage.decode(r)
	default:
		r.Failf("invalid wire format %d", m.WireFormat)
	}
}

// DecodeMessage parses one complete MLSMessage.
func DecodeMessage(b []byte) (*Message, error) {
	r := NewReader(b)
	m := new(Message)
	m.decode(r)
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return m, nil
}

// ReadMessage reads one MLSMessage from r, for payloads that hold several things in a row
// (DAVE's proposals vector, its commit followed by a Welcome).
func ReadMessage(r *Reader) *Message {
	m := new(Message)
	m.decode(r)
	return m
}

// DecodePublicMessage parses an MLSMessage that must hold a PublicMessage.
func DecodePublicMessage(b []byte) (*PublicMessage, error) {
	m, err := DecodeMessage(b)
	if err != nil {
		return nil, err
	}
	if m.WireFormat != WireFormatPublicMessage {
		return nil, fmt.Errorf("mls: wire format %d, want a PublicMessage", m.WireFormat)
	}
	return m.Public, nil
}

// EncodePublicMessage wraps a PublicMessage in an MLSMessage.
func EncodePublicMessage(p *PublicMessage) []byte {
	return (&Message{WireFormat: WireFormatPublicMessage, Public: p}).Encode()
}
