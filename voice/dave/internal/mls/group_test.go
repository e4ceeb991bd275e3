package mls

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
)

// testMember is one simulated DAVE member: its signature key, key package secrets and group.
type testMember struct {
	userID  uint64
	sig     *SigningKey
	secrets *LeafSecrets
	group   *Group
}

func newTestMember(t testing.TB, userID uint64) *testMember {
	t.Helper()
	sig, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := NewLeafSecrets(userID, sig)
	if err != nil {
		t.Fatal(err)
	}
	return &testMember{userID: userID, sig: sig, secrets: secrets}
}

// testGroup drives members through the external sender as the voice gateway would: proposals
// to every member with a group, the first member's commit wins, Welcomes to the joiners.
type testGroup struct {
	t       testing.TB
	ext     *ExternalSigner
	groupID []byte
	epoch   uint64
	members []*testMember
}

func newTestGroup(t testing.TB) *testGroup {
	key, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return &testGroup{t: t, ext: NewExternalSigner(key, []byte("gateway")), groupID: binary.BigEndian.AppendUint64(nil, 1234)}
}

// round sends the proposals to all current members, lets committer commit, and applies the
// commit everywhere; joiners process the Welcome.
func (tg *testGroup) round(committer *testMember, props []*Proposal, joiners []*testMember) {
	t := tg.t
	t.Helper()
	for _, p := range props {
		msg, err := tg.ext.SignProposal(tg.groupID, tg.epoch, p)
		if err != nil {
			t.Fatal(err)
		}
		wire := EncodePublicMessage(msg)
		for _, m := range tg.members {
			pm, err := DecodePublicMessage(wire)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := m.group.ReceiveProposal(pm); err != nil {
				t.Fatalf("user %d: %v", m.userID, err)
			}
		}
	}
	pc, err := committer.group.Commit()
	if err != nil {
		t.Fatal(err)
	}
	var stay []*testMember
	for _, m := range tg.members {
		next, err := m.group.ProcessCommit(pc.Message)
		if err == ErrRemoved {
			continue
		}
		if err != nil {
			t.Fatalf("user %d processing commit: %v", m.userID, err)
		}
		m.group = next
		stay = append(stay, m)
	}
	for _, j := range joiners {
		w, ok := pc.Welcome.ForMember(j.secrets.KeyPackage.Ref())
		if !ok {
			t.Fatalf("welcome lacks user %d", j.userID)
		}
		wire := w.Encode()
		dw, err := DecodeWelcome(wire)
		if err != nil {
			t.Fatal(err)
		}
		g, err := Join(dw, j.secrets)
		if err != nil {
			t.Fatalf("user %d joining: %v", j.userID, err)
		}
		j.group = g
		stay = append(stay, j)
	}
	tg.members = stay
	tg.epoch++
	tg.checkAgreement()
}

func (tg *testGroup) checkAgreement() {
	t := tg.t
	t.Helper()
	first := tg.members[0].group
	for _, m := range tg.members {
		if m.group.Epoch() != tg.epoch {
			t.Fatalf("user %d in epoch %d, want %d", m.userID, m.group.Epoch(), tg.epoch)
		}
		if !bytes.Equal(m.group.EpochAuthenticator(), first.EpochAuthenticator()) {
			t.Fatalf("user %d disagrees on the epoch authenticator", m.userID)
		}
		if !bytes.Equal(m.group.Export("Discord Secure Frames v0", []byte{1}, 16), first.Export("Discord Secure Frames v0", []byte{1}, 16)) {
			t.Fatalf("user %d disagrees on the exporter", m.userID)
		}
		if len(m.group.Members()) != len(tg.members) {
			t.Fatalf("user %d sees %d members, want %d", m.userID, len(m.group.Members()), len(tg.members))
		}
	}
}

func (tg *testGroup) leafOf(m *testMember) uint32 {
	for _, mm := range tg.members[0].group.Members() {
		if mm.UserID == m.userID {
			return mm.LeafIndex
		}
	}
	tg.t.Fatalf("user %d not in group", m.userID)
	return 0
}

func TestGroupAddsAndRemoves(t *testing.T) {
	tg := newTestGroup(t)
	founder := newTestMember(t, 100)
	g, err := NewGroup(tg.groupID, founder.secrets, tg.ext.ExternalSender())
	if err != nil {
		t.Fatal(err)
	}
	founder.group = g
	tg.members = []*testMember{founder}

	var all []*testMember
	for i := range 6 {
		all = append(all, newTestMember(t, uint64(200+i)))
	}
	add := func(ms ...*testMember) []*Proposal {
		var ps []*Proposal
		for _, m := range ms {
			ps = append(ps, &Proposal{Type: ProposalAdd, Add: m.secrets.KeyPackage})
		}
		return ps
	}
	// Adds only: no path.
	tg.round(founder, add(all[0], all[1]), all[:2])
	// A joiner commits the next adds.
	tg.round(all[1], add(all[2], all[3], all[4]), all[2:5])
	// Remove forces a path; unmerged leaves appear in resolutions.
	tg.round(all[3], []*Proposal{{Type: ProposalRemove, Removed: tg.leafOf(all[0])}}, nil)
	// Remove and add in one commit: path secrets for joiners via the Welcome.
	tg.round(all[2], append([]*Proposal{{Type: ProposalRemove, Removed: tg.leafOf(founder)}}, add(all[5])...), all[5:])
	// Shrink to one member, truncating the tree.
	var rm []*Proposal
	for _, m := range tg.members {
		if m != all[5] {
			rm = append(rm, &Proposal{Type: ProposalRemove, Removed: tg.leafOf(m)})
		}
	}
	tg.round(all[5], rm, nil)
	if n := len(tg.members); n != 1 {
		t.Fatalf("%d members left, want 1", n)
	}
	if lc := tg.members[0].group.tree.leafCount(); lc > 8 {
		t.Errorf("tree of %d leaves was not truncated", lc)
	}
}

func TestCommitScenarios(t *testing.T) {
	for _, size := range []int{2, 3, 5, 9, 17} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			tg := newTestGroup(t)
			founder := newTestMember(t, 1)
			g, err := NewGroup(tg.groupID, founder.secrets, tg.ext.ExternalSender())
			if err != nil {
				t.Fatal(err)
			}
			founder.group = g
			tg.members = []*testMember{founder}
			var joiners []*testMember
			var props []*Proposal
			for i := 1; i < size; i++ {
				m := newTestMember(t, uint64(i+1))
				joiners = append(joiners, m)
				props = append(props, &Proposal{Type: ProposalAdd, Add: m.secrets.KeyPackage})
			}
			tg.round(founder, props, joiners)
			// Every member in turn removes the next one, so each position commits a path.
			for len(tg.members) > 2 {
				c := tg.members[len(tg.members)-1]
				victim := tg.members[0]
				tg.round(c, []*Proposal{{Type: ProposalRemove, Removed: tg.leafOf(victim)}}, nil)
			}
		})
	}
}
