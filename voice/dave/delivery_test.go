package dave

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestServiceConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  ServiceConfig
		want string
	}{
		{"missing channel", ServiceConfig{}, "ChannelID"},
		{"negative timeout", ServiceConfig{ChannelID: 1, TransitionTimeout: -time.Second}, "TransitionTimeout"},
		{"negative member limit", ServiceConfig{ChannelID: 1, MaxMembers: -1}, "MaxMembers"},
		{"short key", ServiceConfig{ChannelID: 1, SigningKey: []byte{1}}, "SigningKey"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewDeliveryService(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %q", err, tc.want)
			}
		})
	}
	ds, err := NewDeliveryService(ServiceConfig{ChannelID: 1})
	if err != nil {
		t.Fatal(err)
	}
	if ds.cfg.TransitionTimeout != DefaultTransitionTimeout || ds.cfg.MaxMembers != DefaultMaxMembers {
		t.Fatalf("defaults not applied: %+v", ds.cfg)
	}
}

func TestServiceMemberLimit(t *testing.T) {
	ds, _ := NewDeliveryService(ServiceConfig{ChannelID: 1, MaxMembers: 2})
	for _, id := range []uint64{1, 2} {
		if _, err := ds.Connect(id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ds.Connect(3); err == nil {
		t.Fatal("third member accepted past MaxMembers 2")
	}
	if _, err := ds.Connect(1); err == nil {
		t.Fatal("same member connected twice")
	}
	if _, err := ds.Connect(0); err == nil {
		t.Fatal("user ID 0 accepted")
	}
}

func TestServiceRejectsKeyPackages(t *testing.T) {
	c, _ := goChannel(t, 1, 2)
	other := newGoMember(t, 3, testChannel, time.Now)
	if _, err := other.s.Start(1); err != nil {
		t.Fatal(err)
	}
	good := other.s.secrets.KeyPackage.Encode()
	badSig := bytes.Clone(good)
	badSig[len(badSig)-3] ^= 1
	if _, err := c.ds.Connect(3); err != nil {
		t.Fatal(err)
	}
	epoch := c.ds.Epoch()
	tests := []struct {
		name string
		user uint64
		kp   []byte
		want string
	}{
		{"unknown user", 77, good, "unknown user"},
		{"garbage", 3, []byte{0, 1, 2}, "mls"},
		{"another user's key package", 2, good, "names user 3"},
		{"bad signature", 3, badSig, "signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := c.ds.KeyPackage(tc.user, tc.kp)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one mentioning %q", err, tc.want)
			}
			if len(d) != 0 {
				t.Fatalf("deliveries for a bad key package: %v", d)
			}
		})
	}
	if c.ds.Epoch() != epoch || len(c.ds.proposals) != 0 {
		t.Fatal("a rejected key package changed the service")
	}
}

func TestServiceCommitRules(t *testing.T) {
	c, ms := goChannel(t, 1, 2)
	// Member 3 arrives: both members commit its add.
	m3 := newGoMember(t, 3, testChannel, func() time.Time { return c.now })
	c.members[3] = m3
	for _, m := range ms {
		m.s.ClientsConnect(3)
	}
	m3.s.ClientsConnect(1, 2, 3)
	d, _ := c.ds.Connect(3)
	c.deliver(d)
	kp, _ := m3.s.Start(1)
	props, err := c.ds.KeyPackage(3, kp[0].Payload)
	if err != nil || len(props) != 2 {
		t.Fatalf("add proposals: %v, %v", props, err)
	}
	commits := map[uint64][]byte{}
	for _, p := range props {
		replies := c.members[p.UserID].handle(t, c.wire(p))
		if len(replies) != 1 || replies[0].Op != OpCommitWelcome {
			t.Fatalf("member %d answered %v", p.UserID, replies)
		}
		commits[p.UserID] = replies[0].Payload
	}
	commitOnly, _, err := parseCommitWelcome(commits[1])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		user    uint64
		payload []byte
		want    error
		match   string
	}{
		{"unknown user", 42, commits[1], nil, "unknown user"},
		{"garbage", 1, []byte{1, 2, 3}, nil, "commit"},
		{"add without a Welcome", 1, commitOnly, nil, "without a Welcome"},
		{"commit from another member's leaf", 2, commits[1], nil, "names leaf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.ds.CommitWelcome(tc.user, tc.payload, c.now)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.match) {
				t.Fatalf("err %v, want %v / %q", err, tc.want, tc.match)
			}
			if len(out) != 0 {
				t.Fatal("a rejected commit was announced")
			}
		})
	}
	won, err := c.ds.CommitWelcome(2, commits[2], c.now)
	if err != nil {
		t.Fatal(err)
	}
	var ops []Opcode
	for _, d := range won {
		ops = append(ops, d.Message.Op)
	}
	if len(won) != 3 || ops[2] != OpWelcome || won[2].UserID != 3 {
		t.Fatalf("winning commit delivered %v", won)
	}
	if _, err := c.ds.CommitWelcome(1, commits[1], c.now); !errors.Is(err, ErrLosingCommit) {
		t.Fatalf("second commit of the epoch: %v, want ErrLosingCommit", err)
	}
	c.deliver(won)
	c.checkGroup("after the winning commit", 2)
}

// TestServiceTransitionTimeout executes a transition whose member never reports ready once
// the timeout passes, and not before.
func TestServiceTransitionTimeout(t *testing.T) {
	c, _ := goChannel(t, 1, 2)
	silent := true
	c.tamper = func(d *Delivery) {
		// Member 3 never answers its Welcome: drop its transition ready by hiding the Welcome.
		if silent && d.UserID == 3 && d.Message.Op == OpWelcome {
			d.UserID = 0
		}
	}
	c.connect(newGoMember(t, 3, testChannel, func() time.Time { return c.now }))
	if c.ds.transition == nil {
		t.Fatal("no transition waiting for the silent member")
	}
	if d := c.ds.Tick(c.now.Add(DefaultTransitionTimeout - time.Millisecond)); len(d) != 0 {
		t.Fatalf("executed before the timeout: %v", d)
	}
	d := c.ds.Tick(c.now.Add(DefaultTransitionTimeout))
	if len(d) == 0 || d[0].Message.Op != OpExecuteTransition {
		t.Fatalf("timeout did not execute the transition: %v", d)
	}
	if c.ds.transition != nil {
		t.Fatal("transition still pending")
	}
}
