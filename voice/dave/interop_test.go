package dave

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/spellcoven/gateway/voice/dave/internal/daveytest"
)

const testChannel = 1_234_567_890_123

// checkGroup asserts that every member is in the same epoch with the same epoch
// authenticator, and that every member decrypts every other member's Opus and VP8 frames.
func (c *channel) checkGroup(step string, wantEpoch uint64) {
	c.t.Helper()
	var first []byte
	var code string
	for id, m := range c.members {
		pc := m.privacyCode(c.t)
		if len(pc) != 30 || (code != "" && pc != code) {
			c.t.Fatalf("%s: member %d shows privacy code %q, others %q", step, id, pc, code)
		}
		code = pc
		if e := m.epoch(c.t); e != wantEpoch {
			c.t.Fatalf("%s: member %d in epoch %d, want %d\n%s", step, id, e, wantEpoch, c.trace())
		}
		a := m.authenticator(c.t)
		if first == nil {
			first = a
		} else if !bytes.Equal(a, first) {
			c.t.Fatalf("%s: member %d has another epoch authenticator", step, id)
		}
	}
	frames := map[Codec][]byte{
		CodecOpus: bytes.Repeat([]byte{0xFC, 0x11, 0x22}, 40),
		CodecVP8:  append([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}, bytes.Repeat([]byte{0x42}, 700)...),
		CodecH264: testH264Frame(700),
	}
	for sid, sender := range c.members {
		for _, codec := range []Codec{CodecOpus, CodecVP8, CodecH264} {
			if _, isDavey := sender.(*daveyMember); isDavey && codec == CodecVP8 {
				continue // davey 0.1.12 encrypts Opus and H264 only; it decrypts any codec
			}
			frame := append(bytes.Clone(frames[codec]), byte(sid)) // distinct per sender
			enc := sender.encrypt(c.t, codec, frame)
			if !IsProtocolFrame(enc) {
				c.t.Fatalf("%s: member %d sent a clear %v frame", step, sid, codec)
			}
			if codec == CodecH264 {
				// Every member, davey (libdave's rules) as the Go one, keeps the same bytes
				// clear and writes the same, long, start codes.
				frame = checkH264Layout(c.t, enc, frame)
			}
			for rid, receiver := range c.members {
				if rid == sid {
					continue
				}
				got, err := receiver.decrypt(sid, codec, enc)
				if err != nil {
					c.t.Fatalf("%s: member %d cannot decrypt %v from %d: %v", step, rid, codec, sid, err)
				}
				if !bytes.Equal(got, frame) {
					c.t.Fatalf("%s: member %d decrypted another %v frame from %d", step, rid, codec, sid)
				}
			}
		}
	}
}

func (c *channel) trace() string {
	var b bytes.Buffer
	for _, l := range c.log[max(0, len(c.log)-40):] {
		fmt.Fprintln(&b, l)
	}
	return b.String()
}

// TestInteropJoinsAndLeaves shares one DAVE group between Go members and davey (OpenMLS)
// members through the delivery service: the group is created, members join and leave across
// epochs, and after each step everyone decrypts everyone else's Opus and VP8 frames.
func TestInteropJoinsAndLeaves(t *testing.T) {
	peer := daveytest.Start(t)
	c := newChannel(t, testChannel)
	clock := func() time.Time { return c.now }
	davey := func(uid uint64) *daveyMember {
		return &daveyMember{s: peer.NewSession(fmt.Sprint(uid), uid, testChannel), uid: uid}
	}

	c.connect(newGoMember(t, 1001, testChannel, clock))
	c.connect(davey(1002))
	c.checkGroup("Go and davey create the group", 1)

	c.connect(davey(1003))
	c.checkGroup("second davey joins", 2)

	c.connect(newGoMember(t, 1004, testChannel, clock))
	c.checkGroup("second Go member joins", 3)

	c.disconnect(1001)
	c.checkGroup("the founding Go member leaves", 4)

	c.disconnect(1002)
	c.checkGroup("a davey member leaves", 5)

	c.connect(newGoMember(t, 1005, testChannel, clock))
	c.connect(davey(1006))
	c.checkGroup("two more join", 7)

	c.disconnect(1003)
	c.disconnect(1006)
	c.disconnect(1005)
	// One member remains: sole member reset, a new group forms when someone joins.
	c.connect(davey(1007))
	c.checkGroup("a new group after the sole member reset", 1)
}

// TestInteropInvalidCommitRecovery corrupts the commit a davey member receives: davey reports
// opcode 31 and sends a new key package; the delivery service removes and re-adds it, and Go
// and davey members share the healed group.
func TestInteropInvalidCommitRecovery(t *testing.T) {
	peer := daveytest.Start(t)
	c := newChannel(t, testChannel)
	clock := func() time.Time { return c.now }
	d := &daveyMember{s: peer.NewSession("d", 2002, testChannel), uid: 2002, allowErrors: true}
	c.connect(newGoMember(t, 2001, testChannel, clock))
	c.connect(d)
	c.checkGroup("group formed", 1)

	c.allowInvalids = true
	corrupted := false
	c.tamper = func(dl *Delivery) {
		if dl.UserID == 2002 && dl.Message.Op == OpAnnounceCommit && !corrupted {
			corrupted = true
			p := bytes.Clone(dl.Message.Payload)
			p[len(p)-5] ^= 0xff
			dl.Message.Payload = p
		}
	}
	c.connect(newGoMember(t, 2003, testChannel, clock))
	if !corrupted || c.invalids != 1 {
		t.Fatalf("corrupted %v, invalid reports %d; want one", corrupted, c.invalids)
	}
	c.checkGroup("healed", c.members[2001].epoch(t))
	if n := len(c.ds.GroupMembers()); n != 3 {
		t.Fatalf("%d members in the healed group, want 3", n)
	}
}
