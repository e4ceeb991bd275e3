package mls

import (
	"bytes"
	"testing"
)

// fuzzSeeds returns real messages of a small group: a proposal, a commit with a path, a
// Welcome, a key package and a ratchet tree.
func fuzzSeeds(f *testing.F) (proposal, commit, welcome, keyPackage, tree []byte) {
	tg := newTestGroup(f)
	a, b, c := newTestMember(f, 1), newTestMember(f, 2), newTestMember(f, 3)
	g, err := NewGroup(tg.groupID, a.secrets, tg.ext.ExternalSender())
	if err != nil {
		f.Fatal(err)
	}
	a.group = g
	tg.members = []*testMember{a}
	tg.round(a, []*Proposal{{Type: ProposalAdd, Add: b.secrets.KeyPackage}, {Type: ProposalAdd, Add: c.secrets.KeyPackage}}, []*testMember{b, c})
	msg, err := tg.ext.SignProposal(tg.groupID, tg.epoch, &Proposal{Type: ProposalRemove, Removed: 0})
	if err != nil {
		f.Fatal(err)
	}
	if _, _, err := b.group.ReceiveProposal(msg); err != nil {
		f.Fatal(err)
	}
	pc, err := b.group.Commit()
	if err != nil {
		f.Fatal(err)
	}
	w := NewWriter(nil)
	b.group.tree.encode(w)
	d := newTestMember(f, 4)
	add, _ := tg.ext.SignProposal(tg.groupID, tg.epoch, &Proposal{Type: ProposalAdd, Add: d.secrets.KeyPackage})
	if _, _, err := c.group.ReceiveProposal(add); err != nil {
		f.Fatal(err)
	}
	pw, err := c.group.Commit()
	if err != nil {
		f.Fatal(err)
	}
	return EncodePublicMessage(msg), pc.Message, pw.Welcome.Encode(), d.secrets.KeyPackage.Encode(), w.Bytes()
}

// FuzzDecodeMessage: any input decodes or fails cleanly, and what decodes re-encodes to the
// same bytes (the codec is canonical, which proposal references and signatures rely on).
func FuzzDecodeMessage(f *testing.F) {
	proposal, commit, welcome, kp, _ := fuzzSeeds(f)
	f.Add(proposal)
	f.Add(commit)
	f.Add((&Message{WireFormat: WireFormatWelcome, Welcome: mustWelcome(f, welcome)}).Encode())
	f.Add((&Message{WireFormat: WireFormatKeyPackage, KeyPackage: mustKP(f, kp)}).Encode())
	f.Add([]byte{0, 1, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			return
		}
		if again := m.Encode(); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, again)
		}
	})
}

func FuzzDecodeWelcome(f *testing.F) {
	_, _, welcome, _, _ := fuzzSeeds(f)
	f.Add(welcome)
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := DecodeWelcome(b)
		if err != nil {
			return
		}
		if again := w.Encode(); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func FuzzDecodeKeyPackage(f *testing.F) {
	_, _, _, kp, _ := fuzzSeeds(f)
	f.Add(kp)
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := DecodeKeyPackage(b)
		if err != nil {
			return
		}
		_ = k.Verify()
		if again := k.Encode(); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// FuzzDecodeTree: a received ratchet tree decodes or fails, and the checks run on a decoded
// one never panic.
func FuzzDecodeTree(f *testing.F) {
	_, _, _, _, tree := fuzzSeeds(f)
	f.Add(tree)
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := decodeTree(b)
		if err != nil {
			return
		}
		_ = tr.rootHash()
		_ = tr.verifyParentHashes()
		_ = tr.verifyStructure()
	})
}

func FuzzDecodeExternalSender(f *testing.F) {
	key, err := GenerateSigningKey()
	if err != nil {
		f.Fatal(err)
	}
	ext := NewExternalSigner(key, []byte("gw")).ExternalSender()
	f.Add(ext.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeExternalSender(b)
		if err != nil {
			return
		}
		if again := e.Encode(); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func mustWelcome(t testing.TB, b []byte) *Welcome {
	w, err := DecodeWelcome(b)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func mustKP(t testing.TB, b []byte) *KeyPackage {
	k, err := DecodeKeyPackage(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
