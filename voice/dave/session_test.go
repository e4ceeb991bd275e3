package dave

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing user", Config{ChannelID: 1}, "UserID"},
		{"missing channel", Config{UserID: 1}, "ChannelID"},
		{"negative retention", Config{UserID: 1, ChannelID: 1, KeyRetention: -time.Second}, "KeyRetention"},
		{"negative generation gap", Config{UserID: 1, ChannelID: 1, MaxGenerationGap: -1}, "MaxGenerationGap"},
		{"negative missing nonces", Config{UserID: 1, ChannelID: 1, MaxMissingNonces: -1}, "MaxMissingNonces"},
		{"negative pending proposals", Config{UserID: 1, ChannelID: 1, MaxPendingProposals: -1}, "MaxPendingProposals"},
		{"short signing key", Config{UserID: 1, ChannelID: 1, SigningKey: []byte{1, 2, 3}}, "SigningKey"},
		{"signing key out of range", Config{UserID: 1, ChannelID: 1, SigningKey: bytes.Repeat([]byte{0xff}, 32)}, "signing key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSession(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %q", err, tc.want)
			}
		})
	}
	s, err := NewSession(Config{UserID: 1, ChannelID: 2})
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.KeyRetention != DefaultKeyRetention || s.cfg.MaxGenerationGap != DefaultMaxGenerationGap ||
		s.cfg.MaxMissingNonces != DefaultMaxMissingNonces || s.cfg.MaxPendingProposals != DefaultMaxPendingProposals {
		t.Fatalf("defaults not applied: %+v", s.cfg)
	}
}

// TestSecretsStayOutOfErrors: a rejected signing key is not echoed in the error.
func TestSecretsStayOutOfErrors(t *testing.T) {
	key := bytes.Repeat([]byte{0xff}, 32)
	_, err := NewSession(Config{UserID: 1, ChannelID: 2, SigningKey: key})
	if err == nil {
		t.Fatal("out-of-range key accepted")
	}
	for _, leak := range []string{"ffffff", "255 255", string(key)} {
		if strings.Contains(err.Error(), leak) {
			t.Fatalf("error %q leaks the key", err)
		}
	}
	_, err = NewDeliveryService(ServiceConfig{ChannelID: 1, SigningKey: key})
	if err == nil || strings.Contains(err.Error(), "ffffff") || strings.Contains(err.Error(), "255 255") {
		t.Fatalf("delivery service key error %v", err)
	}
}

func TestSigningKeyIsStable(t *testing.T) {
	key := bytes.Repeat([]byte{0x11}, 32)
	a, _ := NewSession(Config{UserID: 1, ChannelID: 2, SigningKey: key})
	b, _ := NewSession(Config{UserID: 3, ChannelID: 4, SigningKey: key})
	if !bytes.Equal(a.SignaturePublicKey(), b.SignaturePublicKey()) {
		t.Fatal("the same signing key gave different identities")
	}
}

func TestSessionBeforeDAVE(t *testing.T) {
	s, err := NewSession(Config{UserID: 1, ChannelID: 2})
	if err != nil {
		t.Fatal(err)
	}
	frame := []byte("opus payload")
	tests := []struct {
		name    string
		version int
		wantKP  bool
	}{
		{"transport encryption only", 0, false},
		{"DAVE selected, group not formed yet", 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := s.Start(tc.version)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(msgs) == 1 && msgs[0].Op == OpKeyPackage; got != tc.wantKP {
				t.Fatalf("key package sent: %v, want %v", got, tc.wantKP)
			}
			if s.Ready() {
				t.Fatal("ready without a group")
			}
			out, err := s.EncryptFrame(CodecOpus, nil, frame)
			if err != nil || !bytes.Equal(out, frame) {
				t.Fatalf("encrypt before the group: %q, %v; want the frame unchanged", out, err)
			}
			out, err = s.DecryptFrame(7, nil, frame)
			if err != nil || !bytes.Equal(out, frame) {
				t.Fatalf("decrypt before the group: %q, %v; want the frame unchanged", out, err)
			}
		})
	}
	if _, err := s.Start(2); err == nil {
		t.Fatal("unsupported protocol version accepted")
	}
}

// goChannel forms a group of Go members only.
func goChannel(t *testing.T, ids ...uint64) (*channel, map[uint64]*goMember) {
	c := newChannel(t, testChannel)
	clock := func() time.Time { return c.now }
	ms := map[uint64]*goMember{}
	for _, id := range ids {
		m := newGoMember(t, id, testChannel, clock)
		ms[id] = m
		c.connect(m)
	}
	return c, ms
}

func TestGoGroupLifecycle(t *testing.T) {
	c, ms := goChannel(t, 1, 2, 3)
	c.checkGroup("three Go members", 2)
	code := ms[1].s.PrivacyCode()
	if len(code) != 30 || strings.Trim(code, "0123456789") != "" {
		t.Fatalf("privacy code %q is not 30 digits", code)
	}
	for id, m := range ms {
		if m.s.PrivacyCode() != code {
			t.Fatalf("member %d shows another privacy code", id)
		}
		if !m.s.Ready() || len(m.s.Members()) != 3 {
			t.Fatalf("member %d: ready %v, members %v", id, m.s.Ready(), m.s.Members())
		}
	}
	c.disconnect(2)
	c.checkGroup("one left", 3)
	c.disconnect(3)
	// Sole member reset: member 1 starts a new pending group; media still goes out encrypted.
	if ms[1].s.Epoch() != 0 {
		t.Fatalf("sole member still in epoch %d", ms[1].s.Epoch())
	}
	if enc := ms[1].encrypt(t, CodecOpus, []byte{1, 2, 3}); !IsProtocolFrame(enc) {
		t.Fatal("sole member sends clear media after the reset")
	}
	c.connect(newGoMember(t, 4, testChannel, func() time.Time { return c.now }))
	c.checkGroup("new group after the reset", 1)
}

// TestInvalidCommitRecovery corrupts the commit one member receives: it reports opcode 31 with
// a new key package, the delivery service removes and re-adds it, and the group heals.
func TestInvalidCommitRecovery(t *testing.T) {
	c, ms := goChannel(t, 1, 2)
	ms[2].allowErrors = true
	c.allowInvalids = true
	corrupted := false
	c.tamper = func(d *Delivery) {
		if d.UserID == 2 && d.Message.Op == OpAnnounceCommit && !corrupted {
			corrupted = true
			p := bytes.Clone(d.Message.Payload)
			p[len(p)-5] ^= 0xff // inside the membership tag
			d.Message.Payload = p
		}
	}
	c.connect(newGoMember(t, 3, testChannel, func() time.Time { return c.now }))
	if !corrupted || c.invalids != 1 {
		t.Fatalf("corrupted %v, invalid reports %d; want one", corrupted, c.invalids)
	}
	// The service removed and re-added member 2 in later epochs.
	c.checkGroup("after recovery", ms[1].s.Epoch())
	if n := len(ms[1].s.Members()); n != 3 {
		t.Fatalf("%d members after recovery, want 3", n)
	}
}

func TestDowngradeAndUpgrade(t *testing.T) {
	_, ms := goChannel(t, 1, 2)
	s := ms[1].s
	raw := func(v any) []byte { b, _ := json.Marshal(v); return b }

	msgs, err := s.HandleJSON(OpPrepareTransition, raw(PrepareTransition{TransitionID: 9, ProtocolVersion: 0}))
	if err != nil || len(msgs) != 1 || msgs[0].Op != OpTransitionReady {
		t.Fatalf("prepare downgrade: %v, %v", msgs, err)
	}
	clear := []byte("clear media from a member without DAVE")
	if got, err := s.DecryptFrame(2, nil, clear); err != nil || !bytes.Equal(got, clear) {
		t.Fatalf("clear frame during the downgrade: %v", err)
	}
	if enc := ms[1].encrypt(t, CodecOpus, []byte{1}); !IsProtocolFrame(enc) {
		t.Fatal("sender stopped encrypting before the downgrade executed")
	}
	if _, err := s.HandleJSON(OpExecuteTransition, raw(Transition{TransitionID: 9})); err != nil {
		t.Fatal(err)
	}
	if s.ProtocolVersion() != 0 || s.Ready() {
		t.Fatalf("after the downgrade: version %d, ready %v", s.ProtocolVersion(), s.Ready())
	}
	if got := ms[1].encrypt(t, CodecOpus, []byte{1, 2}); !bytes.Equal(got, []byte{1, 2}) {
		t.Fatal("sender still encrypts after the downgrade")
	}
	// Upgrade: a new group for version 1 begins with a fresh key package.
	msgs, err = s.HandleJSON(OpPrepareEpoch, raw(PrepareEpoch{Epoch: 1, ProtocolVersion: 1}))
	if err != nil || len(msgs) != 1 || msgs[0].Op != OpKeyPackage {
		t.Fatalf("prepare epoch 1: %v, %v", msgs, err)
	}
}

func TestSessionRejectsBadInput(t *testing.T) {
	c, ms := goChannel(t, 1, 2)
	s := ms[1].s
	epoch := s.Epoch()
	stranger := newGoMember(t, 99, testChannel, time.Now)
	if _, err := stranger.s.Start(1); err != nil {
		t.Fatal(err)
	}
	strangerKP := stranger.s.secrets.KeyPackage.Encode()
	// The delivery service would refuse to propose the stranger: sign it directly.
	msg, err := c.ds.signer.SignProposal(c.ds.groupID, epoch, mustAddProposal(t, strangerKP))
	if err != nil {
		t.Fatal(err)
	}
	unrecognizedAdd := Message{Op: OpProposals, Payload: proposalsPayload(false, [][]byte{encodePublic(msg)})}.ServerFrame(1)

	tests := []struct {
		name  string
		run   func() ([]Message, error)
		want  error
		match string
	}{
		{"short binary message", func() ([]Message, error) { return s.HandleBinary([]byte{0, 1}) }, nil, "shorter"},
		{"unknown binary opcode", func() ([]Message, error) { return s.HandleBinary([]byte{0, 1, 99}) }, nil, "unexpected binary opcode"},
		{"garbage external sender", func() ([]Message, error) {
			return s.HandleBinary(Message{Op: OpExternalSender, Payload: []byte{1, 2, 3}}.ServerFrame(1))
		}, nil, "mls"},
		{"garbage proposals", func() ([]Message, error) {
			return s.HandleBinary(Message{Op: OpProposals, Payload: []byte{0, 5, 1}}.ServerFrame(1))
		}, nil, "proposals"},
		{"unknown proposal operation", func() ([]Message, error) {
			return s.HandleBinary(Message{Op: OpProposals, Payload: []byte{7, 0}}.ServerFrame(1))
		}, nil, "operation type"},
		{"add for an unannounced user", func() ([]Message, error) { return s.HandleBinary(unrecognizedAdd) }, ErrUnrecognizedUser, ""},
		{"revoke of an unknown proposal", func() ([]Message, error) {
			return s.HandleBinary(Message{Op: OpProposals, Payload: proposalsPayload(true, [][]byte{{1, 2, 3}})}.ServerFrame(1))
		}, nil, "not cached"},
		{"welcome while in the group", func() ([]Message, error) {
			return s.HandleBinary(Message{Op: OpWelcome, Payload: []byte{0, 1, 2}}.ServerFrame(1))
		}, nil, "already in the group"},
		{"execute of an unprepared transition", func() ([]Message, error) {
			return s.HandleJSON(OpExecuteTransition, []byte(`{"transition_id":77}`))
		}, nil, "not prepared"},
		{"unsupported protocol version", func() ([]Message, error) {
			return s.HandleJSON(OpPrepareTransition, []byte(`{"transition_id":3,"protocol_version":9}`))
		}, nil, "not supported"},
		{"malformed JSON", func() ([]Message, error) { return s.HandleJSON(OpPrepareEpoch, []byte(`{`)) }, nil, "prepare epoch"},
		{"unexpected JSON opcode", func() ([]Message, error) { return s.HandleJSON(OpTransitionReady, []byte(`{}`)) }, nil, "unexpected JSON opcode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := tc.run()
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if tc.match != "" && !strings.Contains(err.Error(), tc.match) {
				t.Fatalf("err %q does not mention %q", err, tc.match)
			}
			if len(msgs) != 0 {
				t.Fatalf("sent %v for bad input", msgs)
			}
		})
	}
	// Nothing changed: the group still works.
	c.checkGroup("after bad input", epoch)
}

// TestConcurrentMediaDuringTransitions sends and receives media on other goroutines while
// members join and leave; run with -race. Every frame must decrypt: receivers hold the new
// keys before senders switch, and old keys stay through the retention period.
func TestConcurrentMediaDuringTransitions(t *testing.T) {
	c, ms := goChannel(t, 1, 2)
	sender, receiver := ms[1].s, ms[2].s
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		frame := bytes.Repeat([]byte{0x33}, 100)
		enc := make([]byte, 0, 256)
		dec := make([]byte, 0, 256)
		for i := 0; i < 100_000; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			var err error
			if enc, err = sender.EncryptFrame(CodecOpus, enc[:0], frame); err != nil {
				done <- err
				return
			}
			if dec, err = receiver.DecryptFrame(1, dec[:0], enc); err != nil {
				done <- fmt.Errorf("frame %d: %w", i, err)
				return
			}
		}
		done <- nil
	}()
	clock := func() time.Time { return c.now }
	for id := uint64(3); id < 7; id++ {
		c.connect(newGoMember(t, id, testChannel, clock))
	}
	for id := uint64(3); id < 6; id++ {
		c.disconnect(id)
	}
	close(stop)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("media goroutine did not stop")
	}
	c.checkGroup("after the churn", ms[1].s.Epoch())
}

func TestMaxPendingProposals(t *testing.T) {
	c, _ := goChannel(t, 1, 2)
	s, err := NewSession(Config{UserID: 1, ChannelID: testChannel, MaxPendingProposals: 1})
	if err != nil {
		t.Fatal(err)
	}
	s.ClientsConnect(1, 2, 3, 4)
	s.HandleBinary(Message{Op: OpExternalSender, Payload: c.ds.ExternalSenderPackage()}.ServerFrame(1))
	if _, err := s.Start(1); err != nil {
		t.Fatal(err)
	}
	var msgs [][]byte
	for _, id := range []uint64{3, 4} {
		m := newGoMember(t, id, testChannel, time.Now)
		m.s.Start(1)
		p, err := c.ds.signer.SignProposal(c.ds.groupID, 0, mustAddProposal(t, m.s.secrets.KeyPackage.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, encodePublic(p))
	}
	out, err := s.HandleBinary(Message{Op: OpProposals, Payload: proposalsPayload(false, msgs)}.ServerFrame(2))
	if err == nil || !strings.Contains(err.Error(), "proposals pending") || len(out) != 0 {
		t.Fatalf("two proposals with MaxPendingProposals 1: %v, %v", out, err)
	}
	// All or none: the first proposal was not kept, so it can come alone now.
	out, err = s.HandleBinary(Message{Op: OpProposals, Payload: proposalsPayload(false, msgs[:1])}.ServerFrame(3))
	if err != nil || len(out) != 1 || out[0].Op != OpCommitWelcome {
		t.Fatalf("one proposal after the refused batch: %v, %v", out, err)
	}
}
