package mls

import "fmt"

// GroupContext is the state every member agrees on in an epoch; it is bound into signatures,
// the key schedule and HPKE contexts.
type GroupContext struct {
	CipherSuite             CipherSuite
	GroupID                 []byte
	Epoch                   uint64
	TreeHash                []byte
	ConfirmedTranscriptHash []byte
	Extensions              []Extension
}

func (g *GroupContext) encode(w *Writer) {
	w.Uint16(ProtocolVersionMLS10)
	w.Uint16(uint16(g.CipherSuite))
	w.Opaque(g.GroupID)
	w.Uint64(g.Epoch)
	w.Opaque(g.TreeHash)
	w.Opaque(g.ConfirmedTranscriptHash)
	writeExtensions(w, g.Extensions)
}

func (g *GroupContext) decode(r *Reader) {
	if v := r.Uint16(); r.Err() == nil && v != ProtocolVersionMLS10 {
		r.Failf("group context version %d", v)
	}
	g.CipherSuite = CipherSuite(r.Uint16())
	g.GroupID = r.Opaque()
	g.Epoch = r.Uint64()
	g.TreeHash = r.Opaque()
	g.ConfirmedTranscriptHash = r.Opaque()
	g.Extensions = readExtensions(r)
}

// Encode returns the TLS encoding of the group context.
func (g *GroupContext) Encode() []byte {
	w := NewWriter(nil)
	g.encode(w)
	return w.Bytes()
}

// GroupInfo is what a Welcome carries (encrypted): the new epoch's group context, the ratchet
// tree extension, the confirmation tag and the committer's signature.
type GroupInfo struct {
	GroupContext    GroupContext
	Extensions      []Extension
	ConfirmationTag []byte
	Signer          uint32
	Signature       []byte
}

func (g *GroupInfo) encodeTBS(w *Writer) {
	g.GroupContext.encode(w)
	writeExtensions(w, g.Extensions)
	w.Opaque(g.ConfirmationTag)
	w.Uint32(g.Signer)
}

func (g *GroupInfo) encode(w *Writer) {
	g.encodeTBS(w)
	w.Opaque(g.Signature)
}

func (g *GroupInfo) decode(r *Reader) {
	g.GroupContext.decode(r)
	g.Extensions = readExtensions(r)
	g.ConfirmationTag = r.Opaque()
	g.Signer = r.Uint32()
	g.Signature = r.Opaque()
}

func (g *GroupInfo) tbs() []byte {
	w := NewWriter(nil)
	g.encodeTBS(w)
	return w.Bytes()
}

// groupSecrets is what each new member decrypts from a Welcome.
type groupSecrets struct {
	JoinerSecret []byte
	PathSecret   []byte // nil when absent
}

func (s *groupSecrets) encode(w *Writer) {
	w.Opaque(s.JoinerSecret)
	w.Optional(s.PathSecret != nil, func(w *Writer) { w.Opaque(s.PathSecret) })
	w.Varint(0) // psks: DAVE uses no pre-shared keys
}

func (s *groupSecrets) decode(r *Reader) {
	s.JoinerSecret = r.Opaque()
	r.Optional(func(r *Reader) {
		s.PathSecret = r.Opaque()
		if s.PathSecret == nil {
			s.PathSecret = []byte{}
		}
	})
	if n := r.Varint(); n != 0 {
		r.Failf("welcome carries pre-shared keys, which DAVE does not use")
	}
}

// EncryptedGroupSecrets is one new member's entry in a Welcome.
type EncryptedGroupSecrets struct {
	NewMember []byte // KeyPackageRef
	Secrets   HPKECiphertext
}

// Welcome brings new members into the group.
type Welcome struct {
	CipherSuite        CipherSuite
	Secrets            []EncryptedGroupSecrets
	EncryptedGroupInfo []byte
}

func (w0 *Welcome) encode(w *Writer) {
	w.Uint16(uint16(w0.CipherSuite))
	w.Vector(func(w *Writer) {
		for i := range w0.Secrets {
			w.Opaque(w0.Secrets[i].NewMember)
			w0.Secrets[i].Secrets.encode(w)
		}
	})
	w.Opaque(w0.EncryptedGroupInfo)
}

func (w0 *Welcome) decode(r *Reader) {
	w0.CipherSuite = CipherSuite(r.Uint16())
	r.Vector(func(r *Reader) {
		var s EncryptedGroupSecrets
		s.NewMember = r.Opaque()
		s.Secrets.decode(r)
		w0.Secrets = append(w0.Secrets, s)
	})
	w0.EncryptedGroupInfo = r.Opaque()
}

// Encode returns the bare Welcome encoding (DAVE opcodes 28 and 30 carry it without the
// MLSMessage header).
func (w0 *Welcome) Encode() []byte {
	w := NewWriter(nil)
	w0.encode(w)
	return w.Bytes()
}

// ReadWelcome reads a bare Welcome from r.
func ReadWelcome(r *Reader) *Welcome {
	w := new(Welcome)
	w.decode(r)
	return w
}

// DecodeWelcome parses a bare Welcome.
func DecodeWelcome(b []byte) (*Welcome, error) {
	r := NewReader(b)
	w := ReadWelcome(r)
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("mls: welcome: %w", err)
	}
	return w, nil
}

// ForMember returns a copy of the Welcome holding only the secrets for the key package with
// reference ref, as DAVE's voice gateway forwards it to each new member; false when the
// Welcome has none for it.
func (w0 *Welcome) ForMember(ref []byte) (*Welcome, bool) {
	for _, s := range w0.Secrets {
		if equalBytes(s.NewMember, ref) {
			return &Welcome{
				CipherSuite:        w0.CipherSuite,
				Secrets:            []EncryptedGroupSecrets{s},
				EncryptedGroupInfo: w0.EncryptedGroupInfo,
			}, true
		}
	}
	return nil, false
}
