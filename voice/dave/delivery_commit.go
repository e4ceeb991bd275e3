package dave

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spellcoven/gateway/voice/dave/internal/mls"
)

// Commits that lose without anything being wrong: members race to commit, and a commit made
// before the member saw every proposal of the epoch is superseded by its next one.
var (
	// ErrLosingCommit reports a commit for an epoch that already has a winner.
	ErrLosingCommit = errors.New("dave: commit for an epoch that already has a winner")
	// ErrIncompleteCommit reports a commit that does not cover every proposal in flight.
	ErrIncompleteCommit = errors.New("dave: commit does not reference exactly the proposals in flight")
)

// CommitWelcome handles opcode 28 from userID. The first valid commit of an epoch wins: it
// is announced (opcode 29) to the members of the group it commits, and each member it adds
// gets its Welcome (opcode 30). A commit is valid when it is for the current epoch and
// references exactly the proposals in flight (while the group is being created: all but the
// committer's own add), and carries a Welcome when it adds members.
func (ds *DeliveryService) CommitWelcome(userID uint64, payload []byte, now time.Time) ([]Delivery, error) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.members[userID] == nil {
		return nil, fmt.Errorf("dave: commit from unknown user %d", userID)
	}
	commit, welcome, err := parseCommitWelcome(payload)
	if err != nil {
		return nil, err
	}
	epoch, sender, refs, err := mls.CommitProposalRefs(commit)
	if err != nil {
		return nil, err
	}
	if epoch != ds.epoch || ds.transition != nil && ds.established {
		return nil, ErrLosingCommit
	}
	if ds.established {
		if leaf, ok := ds.leafOf(userID); !ok || leaf != sender {
			return nil, fmt.Errorf("dave: commit from user %d names leaf %d", userID, sender)
		}
	} else if sender != 0 {
		return nil, fmt.Errorf("dave: initial commit from leaf %d", sender)
	}
	// The commit must reference exactly the proposals the committer was sent.
	var want []*dsProposal
	for _, p := range ds.proposals {
		if ds.established || p.user != userID {
			want = append(want, p)
		}
	}
	if len(refs) != len(want) || len(want) == 0 {
		return nil, fmt.Errorf("%w: %d referenced, %d in flight", ErrIncompleteCommit, len(refs), len(want))
	}
	for _, p := range want {
		if !slices.ContainsFunc(refs, func(r []byte) bool { return string(r) == string(p.ref) }) {
			return nil, ErrIncompleteCommit
		}
	}
	adds := 0
	for _, p := range want {
		if p.add != nil {
			adds++
		}
	}
	if adds > 0 && welcome == nil {
		return nil, errors.New("dave: commit adds members without a Welcome")
	}

	// The commit wins. It is announced to the members who stay in the group (a member being
	// removed and re-added is pending: it gets the Welcome instead).
	var announce []uint64
	if !ds.established {
		announce = []uint64{userID}
		ds.leaves = []uint64{userID}
		ds.members[userID].inGroup = true
	} else {
		for leaf, u := range ds.leaves {
			removed := slices.ContainsFunc(want, func(p *dsProposal) bool { return p.add == nil && p.removed == uint32(leaf) })
			if m := ds.members[u]; u != 0 && m != nil && m.inGroup && !removed {
				announce = append(announce, u)
			}
		}
	}
	for _, p := range want {
		if p.add == nil {
			ds.leaves[p.removed] = 0
		}
	}
	for len(ds.leaves) > 0 && ds.leaves[len(ds.leaves)-1] == 0 {
		ds.leaves = ds.leaves[:len(ds.leaves)-1]
	}
	var joiners []*dsProposal
	for _, p := range want {
		if p.add == nil {
			continue
		}
		if i := slices.Index(ds.leaves, 0); i >= 0 {
			ds.leaves[i] = p.user
		} else {
			ds.leaves = append(ds.leaves, p.user)
		}
		if m := ds.members[p.user]; m != nil {
			m.inGroup = true
		}
		joiners = append(joiners, p)
	}
	ds.established = true
	ds.epoch = epoch + 1
	ds.proposals = nil
	ds.nextTID++
	if ds.nextTID == 0 {
		ds.nextTID = 1
	}
	tid := ds.nextTID

	var out []Delivery
	for _, u := range announce {
		out = append(out, Delivery{UserID: u, Message: Message{Op: OpAnnounceCommit, Payload: transitionPayload(tid, commit)}})
	}
	for _, j := range joiners {
		w, ok := welcome.ForMember(j.add.Ref())
		if !ok {
			return out, fmt.Errorf("dave: welcome lacks user %d", j.user)
		}
		if ds.members[j.user] != nil {
			out = append(out, Delivery{UserID: j.user, Message: Message{Op: OpWelcome, Payload: transitionPayload(tid, w.Encode())}})
		}
	}
	members := ds.groupUsers()
	ds.transition = &dsTransition{id: tid, deadline: now.Add(ds.cfg.TransitionTimeout), waiting: map[uint64]bool{}, members: members}
	for _, u := range members {
		if ds.members[u] != nil {
			ds.transition.waiting[u] = true
		}
	}
	return out, nil
}

// Ready handles opcode 23: when every member of the transition is ready, it executes.
func (ds *DeliveryService) Ready(userID uint64, transitionID uint16) []Delivery {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	t := ds.transition
	if t == nil || t.id != transitionID {
		return nil
	}
	delete(t.waiting, userID)
	if len(t.waiting) > 0 {
		return nil
	}
	return ds.executeLocked()
}

// Tick executes a transition whose deadline passed.
func (ds *DeliveryService) Tick(now time.Time) []Delivery {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.transition == nil || now.Before(ds.transition.deadline) {
		return nil
	}
	return ds.executeLocked()
}

// executeLocked announces opcode 22 to the transition's members, then starts the next epoch's
// proposals for members who arrived or left meanwhile.
func (ds *DeliveryService) executeLocked() []Delivery {
	t := ds.transition
	ds.transition = nil
	var out []Delivery
	for _, u := range t.members {
		if ds.members[u] != nil {
			out = append(out, Delivery{UserID: u, Message: Message{Op: OpExecuteTransition, Data: Transition{TransitionID: t.id}}})
		}
	}
	return append(out, ds.proposeQueuedLocked()...)
}

// proposeQueuedLocked proposes, in one batch, the changes waiting for the next epoch:
// removes of leaves whose users left or must rejoin, adds of key packages that arrived.
func (ds *DeliveryService) proposeQueuedLocked() []Delivery {
	var props []*dsProposal
	for leaf, u := range ds.leaves {
		if u == 0 {
			continue
		}
		if m := ds.members[u]; (m == nil || !m.inGroup) && !ds.removalInFlight(uint32(leaf)) {
			if p, err := ds.proposeLocked(&mls.Proposal{Type: mls.ProposalRemove, Removed: uint32(leaf)}, u); err == nil {
				props = append(props, p)
			}
		}
	}
	for _, id := range ds.pendingUsers() {
		m := ds.members[id]
		if m.keyPackage == nil {
			continue
		}
		if p, err := ds.proposeLocked(&mls.Proposal{Type: mls.ProposalAdd, Add: m.keyPackage}, id); err == nil {
			m.keyPackage = nil
			props = append(props, p)
		}
	}
	return ds.sendLocked(props)
}

func (ds *DeliveryService) removalInFlight(leaf uint32) bool {
	return slices.ContainsFunc(ds.proposals, func(p *dsProposal) bool { return p.add == nil && p.removed == leaf })
}

// InvalidCommitWelcome handles opcode 31: the member could not process a commit or Welcome.
// It leaves the group (a remove is proposed) and is added again with the key package it
// sends next.
func (ds *DeliveryService) InvalidCommitWelcome(userID uint64, transitionID uint16) []Delivery {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	m := ds.members[userID]
	if m == nil {
		return nil
	}
	m.inGroup = false
	if t := ds.transition; t != nil {
		delete(t.waiting, userID)
		t.members = slices.DeleteFunc(t.members, func(u uint64) bool { return u == userID })
		if len(t.waiting) == 0 {
			return ds.executeLocked()
		}
		return nil
	}
	return ds.proposeQueuedLocked()
}

// Disconnect handles a member leaving the voice channel. Its leaf is proposed for removal;
// when one member would remain, that member instead gets a sole member reset (opcode 24 with
// epoch 1, then opcode 21 with transition 0) and the group starts over.
func (ds *DeliveryService) Disconnect(userID uint64) []Delivery {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	m := ds.members[userID]
	if m == nil {
		return nil
	}
	delete(ds.members, userID)
	var out []Delivery
	for _, p := range ds.proposals {
		if p.add != nil && p.user == userID {
			out = append(out, ds.revokeLocked(p)...)
			break
		}
	}
	if t := ds.transition; t != nil {
		delete(t.waiting, userID)
	}
	if !ds.established {
		return out
	}
	var remaining []uint64
	for _, u := range ds.groupUsers() {
		if ds.members[u] != nil && ds.members[u].inGroup {
			remaining = append(remaining, u)
		}
	}
	if len(remaining) <= 1 {
		return append(out, ds.resetLocked(remaining)...)
	}
	if ds.transition != nil {
		if len(ds.transition.waiting) == 0 {
			out = append(out, ds.executeLocked()...)
		}
		return out
	}
	return append(out, ds.proposeQueuedLocked()...)
}

// resetLocked drops the established group: the remaining member (if any) re-creates its
// local group and sends a new key package.
func (ds *DeliveryService) resetLocked(remaining []uint64) []Delivery {
	// Adds in flight are proposed again in the new group's epoch 0.
	for _, p := range ds.proposals {
		if m := ds.members[p.user]; p.add != nil && m != nil {
			m.keyPackage = p.add
		}
	}
	ds.established, ds.epoch, ds.leaves, ds.proposals, ds.transition = false, 0, nil, nil, nil
	var out []Delivery
	for _, m := range ds.members {
		m.inGroup = false
	}
	for _, u := range remaining {
		ds.members[u].keyPackage = nil // it sends a new one after the reset
		out = append(out,
			Delivery{UserID: u, Message: Message{Op: OpPrepareEpoch, Data: PrepareEpoch{Epoch: 1, ProtocolVersion: ProtocolVersion}}},
			Delivery{UserID: u, Message: Message{Op: OpPrepareTransition, Data: PrepareTransition{TransitionID: 0, ProtocolVersion: ProtocolVersion}}},
		)
	}
	return append(out, ds.proposeQueuedLocked()...)
}
