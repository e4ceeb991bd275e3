package mls

import "testing"

// benchGroup builds a group of n Go members and returns them with the group's test driver.
func benchGroup(b *testing.B, n int) *testGroup {
	tg := newTestGroup(b)
	founder := newTestMember(b, 1)
	g, err := NewGroup(tg.groupID, founder.secrets, tg.ext.ExternalSender())
	if err != nil {
		b.Fatal(err)
	}
	founder.group = g
	tg.members = []*testMember{founder}
	var joiners []*testMember
	var props []*Proposal
	for i := 1; i < n; i++ {
		m := newTestMember(b, uint64(i+1))
		joiners = append(joiners, m)
		props = append(props, &Proposal{Type: ProposalAdd, Add: m.secrets.KeyPackage})
	}
	tg.round(founder, props, joiners)
	return tg
}

// BenchmarkProcessCommit25 measures a member of a 25-member group processing another
// member's commit that removes one member and adds one (an UpdatePath, one HPKE decryption,
// a tree hash, parent hashes, the key schedule). ProcessCommit leaves the group unchanged,
// so the same commit is processed each iteration.
func BenchmarkProcessCommit25(b *testing.B) {
	tg := benchGroup(b, 25)
	newcomer := newTestMember(b, 999)
	for _, p := range []*Proposal{
		{Type: ProposalRemove, Removed: tg.leafOf(tg.members[3])},
		{Type: ProposalAdd, Add: newcomer.secrets.KeyPackage},
	} {
		msg, err := tg.ext.SignProposal(tg.groupID, tg.epoch, p)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range tg.members {
			if _, _, err := m.group.ReceiveProposal(msg); err != nil {
				b.Fatal(err)
			}
		}
	}
	pc, err := tg.members[7].group.Commit()
	if err != nil {
		b.Fatal(err)
	}
	receiver := tg.members[20].group
	b.ReportAllocs()
	for b.Loop() {
		if _, err := receiver.ProcessCommit(pc.Message); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJoin25 measures a new member joining a 25-member group from its Welcome, which
// verifies every leaf's signature and the whole tree.
func BenchmarkJoin25(b *testing.B) {
	tg := benchGroup(b, 25)
	newcomer := newTestMember(b, 999)
	msg, err := tg.ext.SignProposal(tg.groupID, tg.epoch, &Proposal{Type: ProposalAdd, Add: newcomer.secrets.KeyPackage})
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := tg.members[5].group.ReceiveProposal(msg); err != nil {
		b.Fatal(err)
	}
	pc, err := tg.members[5].group.Commit()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Join(pc.Welcome, newcomer.secrets); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateCommit25 measures a member of a 25-member group committing a remove.
func BenchmarkCreateCommit25(b *testing.B) {
	tg := benchGroup(b, 25)
	msg, err := tg.ext.SignProposal(tg.groupID, tg.epoch, &Proposal{Type: ProposalRemove, Removed: tg.leafOf(tg.members[3])})
	if err != nil {
		b.Fatal(err)
	}
	g := tg.members[12].group
	if _, _, err := g.ReceiveProposal(msg); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}
