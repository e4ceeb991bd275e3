package dave

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecryptFrame: any received frame is decrypted, passed through or refused without a
// panic, and a frame that decrypts was produced by the sender's key.
func FuzzDecryptFrame(f *testing.F) {
	clk := newTestClock()
	key := bytes.Repeat([]byte{8}, 16)
	e := &FrameEncryptor{}
	e.setRatchet(newKeyRatchet(key))
	for _, frame := range [][]byte{
		bytes.Repeat([]byte{1}, 60),
		append([]byte{0x10, 2, 0, 0x9d, 1, 0x2a, 0x80, 2, 0xe0, 1}, bytes.Repeat([]byte{2}, 90)...),
		{0x31, 5, 6, 7},
	} {
		enc, err := e.Encrypt(CodecVP8, nil, frame)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	f.Add([]byte{0xF8, 0xFF, 0xFE})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0x80, 0x01, 0, 5, 14, 0xFA, 0xFA})
	f.Fuzz(func(t *testing.T, frame []byte) {
		d := newFrameDecryptor(&testLimits, clk.now)
		d.addRatchet(newKeyRatchet(key))
		out, err := d.Decrypt(nil, frame)
		if err == nil && IsProtocolFrame(frame) && len(out) > len(frame) {
			t.Fatalf("decrypted %d bytes out of a %d-byte frame", len(out), len(frame))
		}
	})
}

func FuzzParseProposals(f *testing.F) {
	c, _ := goChannelFuzz(f)
	for _, p := range c.seenProposals {
		f.Add(p)
	}
	f.Add(proposalsPayload(true, [][]byte{{1, 2, 3}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseProposals(b)
	})
}

func FuzzParseCommitWelcome(f *testing.F) {
	c, _ := goChannelFuzz(f)
	for _, p := range c.seenCommits {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = parseCommitWelcome(b)
	})
}

// FuzzSessionHandleBinary feeds arbitrary gateway messages to a member of a live group.
func FuzzSessionHandleBinary(f *testing.F) {
	c, ms := goChannelFuzz(f)
	for _, p := range c.seenProposals {
		f.Add(Message{Op: OpProposals, Payload: p}.ServerFrame(1))
	}
	for _, p := range c.seenCommits {
		f.Add(Message{Op: OpAnnounceCommit, Payload: transitionPayload(5, p)}.ServerFrame(1))
	}
	f.Add(Message{Op: OpExternalSender, Payload: c.ds.ExternalSenderPackage()}.ServerFrame(1))
	s := ms[1].s
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = s.HandleBinary(b)
	})
}

// FuzzServiceMessages feeds arbitrary key packages and commits to the delivery service.
func FuzzServiceMessages(f *testing.F) {
	c, _ := goChannelFuzz(f)
	for _, p := range c.seenCommits {
		f.Add(true, p)
	}
	for _, p := range c.seenKeyPackages {
		f.Add(false, p)
	}
	f.Fuzz(func(t *testing.T, commit bool, b []byte) {
		if commit {
			_, _ = c.ds.CommitWelcome(1, b, c.now)
		} else {
			_, _ = c.ds.KeyPackage(2, b)
		}
	})
}

// goChannelFuzz forms a three-member Go group and records the payloads that flowed.
func goChannelFuzz(f *testing.F) (*channel, map[uint64]*goMember) {
	c := newChannel(f, testChannel)
	c.record = true
	clock := func() time.Time { return c.now }
	ms := map[uint64]*goMember{}
	for _, id := range []uint64{1, 2, 3} {
		ms[id] = newGoMember(f, id, testChannel, clock)
		c.connect(ms[id])
	}
	for _, m := range ms {
		m.allowErrors = true
	}
	return c, ms
}
