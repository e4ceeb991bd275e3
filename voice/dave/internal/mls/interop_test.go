package mls

import (
	"bytes"
	"testing"

	"github.com/spellcoven/gateway/voice/dave/internal/daveytest"
)

// proposalsVector encodes proposal messages as DAVE opcode 27 carries them after the
// operation type: MLSMessage proposal_messages<V>.
func proposalsVector(msgs ...*PublicMessage) []byte {
	w := NewWriter(nil)
	w.Vector(func(w *Writer) {
		for _, m := range msgs {
			w.Raw(EncodePublicMessage(m))
		}
	})
	return w.Bytes()
}

// TestInteropWithOpenMLS runs one group with Go members and a davey (OpenMLS) member through
// adds and removes where each side commits and each side joins by the other's Welcome; after
// every epoch both must agree on the epoch authenticator.
func TestInteropWithOpenMLS(t *testing.T) {
	peer := daveytest.Start(t)
	tg := newTestGroup(t)
	ext := tg.ext.ExternalSender()

	founder := newTestMember(t, 11)
	g, err := NewGroup(tg.groupID, founder.secrets, ext)
	if err != nil {
		t.Fatal(err)
	}
	founder.group = g

	d := peer.NewSession("d", 22, 1234)
	if err := d.SetExternalSender(ext.Encode()); err != nil {
		t.Fatal(err)
	}
	kp, err := DecodeKeyPackage(d.KeyPackage())
	if err != nil {
		t.Fatalf("davey's key package: %v", err)
	}
	if err := kp.Verify(); err != nil {
		t.Fatalf("davey's key package: %v", err)
	}
	if uid, _ := kp.UserID(); uid != 22 {
		t.Fatalf("davey's key package names user %d", uid)
	}

	sign := func(epoch uint64, p *Proposal) *PublicMessage {
		m, err := tg.ext.SignProposal(tg.groupID, epoch, p)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	agree := func(step string, gs ...*Group) {
		t.Helper()
		st := d.Status()
		for _, g := range gs {
			if uint64(st.Epoch) != g.Epoch() {
				t.Fatalf("%s: davey in epoch %d, Go in %d", step, st.Epoch, g.Epoch())
			}
			if !bytes.Equal(st.EpochAuthenticator, g.EpochAuthenticator()) {
				t.Fatalf("%s: epoch authenticators differ", step)
			}
		}
	}

	// Epoch 0 -> 1: the Go founder adds davey; davey joins by the Go Welcome.
	addD := sign(0, &Proposal{Type: ProposalAdd, Add: kp})
	if _, _, err := founder.group.ReceiveProposal(addD); err != nil {
		t.Fatal(err)
	}
	pc, err := founder.group.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if founder.group, err = founder.group.ProcessCommit(pc.Message); err != nil {
		t.Fatal(err)
	}
	if err := d.ProcessWelcome(pc.Welcome.Encode()); err != nil {
		t.Fatalf("davey rejects the Go Welcome: %v", err)
	}
	agree("davey joined", founder.group)

	// Epoch 1 -> 2: davey commits the add of a second Go member; Go processes davey's commit
	// and joins by davey's Welcome.
	second := newTestMember(t, 33)
	add2 := sign(1, &Proposal{Type: ProposalAdd, Add: second.secrets.KeyPackage})
	if _, _, err := founder.group.ReceiveProposal(add2); err != nil {
		t.Fatal(err)
	}
	cw, err := d.ProcessProposals(0, proposalsVector(add2), []string{"11", "22", "33"})
	if err != nil {
		t.Fatal(err)
	}
	if cw.Commit == nil || cw.Welcome == nil {
		t.Fatal("davey produced no commit and Welcome for an add")
	}
	if founder.group, err = founder.group.ProcessCommit(cw.Commit); err != nil {
		t.Fatalf("Go rejects davey's commit: %v", err)
	}
	if err := d.ProcessCommit(cw.Commit); err != nil {
		t.Fatal(err)
	}
	w, err := DecodeWelcome(cw.Welcome)
	if err != nil {
		t.Fatal(err)
	}
	if second.group, err = Join(w, second.secrets); err != nil {
		t.Fatalf("Go rejects davey's Welcome: %v", err)
	}
	agree("second joined", founder.group, second.group)

	// Epoch 2 -> 3: davey commits a remove (with an UpdatePath).
	rm := sign(2, &Proposal{Type: ProposalRemove, Removed: 0})
	for _, m := range []*testMember{founder, second} {
		if _, _, err := m.group.ReceiveProposal(rm); err != nil {
			t.Fatal(err)
		}
	}
	cw, err = d.ProcessProposals(0, proposalsVector(rm), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := founder.group.ProcessCommit(cw.Commit); err != ErrRemoved {
		t.Fatalf("removed founder: %v, want ErrRemoved", err)
	}
	if second.group, err = second.group.ProcessCommit(cw.Commit); err != nil {
		t.Fatalf("Go rejects davey's path commit: %v", err)
	}
	if err := d.ProcessCommit(cw.Commit); err != nil {
		t.Fatal(err)
	}
	agree("founder removed", second.group)

	// Epoch 3 -> 4: Go commits a remove and an add with a path; davey processes the Go
	// path, the new Go member joins.
	third := newTestMember(t, 44)
	addThird := sign(3, &Proposal{Type: ProposalAdd, Add: third.secrets.KeyPackage})
	if _, _, err := second.group.ReceiveProposal(addThird); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ProcessProposals(0, proposalsVector(addThird), nil); err != nil {
		t.Fatal(err)
	}
	fourth := newTestMember(t, 55)
	addFourth := sign(3, &Proposal{Type: ProposalAdd, Add: fourth.secrets.KeyPackage})
	if _, _, err := second.group.ReceiveProposal(addFourth); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ProcessProposals(0, proposalsVector(addFourth), nil); err != nil {
		t.Fatal(err)
	}
	pc, err = second.group.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ProcessCommit(pc.Message); err != nil {
		t.Fatalf("davey rejects the Go add commit: %v", err)
	}
	if second.group, err = second.group.ProcessCommit(pc.Message); err != nil {
		t.Fatal(err)
	}
	for _, j := range []*testMember{third, fourth} {
		if j.group, err = Join(pc.Welcome, j.secrets); err != nil {
			t.Fatal(err)
		}
	}
	agree("third and fourth joined", second.group, third.group, fourth.group)

	rm2 := sign(4, &Proposal{Type: ProposalRemove, Removed: third.group.LeafIndex()})
	for _, m := range []*testMember{second, third, fourth} {
		if _, _, err := m.group.ReceiveProposal(rm2); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.ProcessProposals(0, proposalsVector(rm2), nil); err != nil {
		t.Fatal(err)
	}
	pc, err = fourth.group.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ProcessCommit(pc.Message); err != nil {
		t.Fatalf("davey rejects the Go path commit: %v", err)
	}
	for _, m := range []*testMember{second, fourth} {
		if m.group, err = m.group.ProcessCommit(pc.Message); err != nil {
			t.Fatal(err)
		}
	}
	agree("third removed by a Go path commit", second.group, fourth.group)
}
