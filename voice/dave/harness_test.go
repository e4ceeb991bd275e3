package dave

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/spellcoven/gateway/voice/dave/internal/daveytest"
)

// member is one participant of a simulated voice channel: a Go Session or a davey session.
type member interface {
	id() uint64
	// handle takes one message from the gateway and returns what the member sends back.
	handle(t testing.TB, m Message) []Message
	start(t testing.TB) []Message
	encrypt(t testing.TB, codec Codec, frame []byte) []byte
	decrypt(sender uint64, codec Codec, frame []byte) ([]byte, error)
	epoch(t testing.TB) uint64
	authenticator(t testing.TB) []byte
	privacyCode(t testing.TB) string
}

// channel routes DAVE messages between members and a DeliveryService in delivery order, as a
// voice gateway would over each member's WebSocket.
type channel struct {
	t       testing.TB
	ds      *DeliveryService
	members map[uint64]member
	seq     map[uint64]uint16
	now     time.Time
	log     []string
	// tamper may change a delivery before it reaches its member.
	tamper func(d *Delivery)
	// invalids counts opcode 31 reports; a test expecting none fails on the first.
	invalids      int
	allowInvalids bool
	// record keeps the payloads that flowed, as fuzzing seeds.
	record                                      bool
	seenProposals, seenCommits, seenKeyPackages [][]byte
}

func newChannel(t testing.TB, channelID uint64) *channel {
	ds, err := NewDeliveryService(ServiceConfig{ChannelID: channelID})
	if err != nil {
		t.Fatal(err)
	}
	return &channel{t: t, ds: ds, members: map[uint64]member{}, seq: map[uint64]uint16{}, now: time.Unix(1_700_000_000, 0)}
}

// connect adds a member: the gateway announces it (opcode 11) to everyone, sends it opcode 25,
// and the member starts (its key package).
func (c *channel) connect(m member) {
	c.t.Helper()
	ids := []uint64{m.id()}
	for id, other := range c.members {
		ids = append(ids, id)
		if gs, ok := other.(*goMember); ok {
			gs.s.ClientsConnect(m.id())
		}
	}
	c.members[m.id()] = m
	if gs, ok := m.(*goMember); ok {
		gs.s.ClientsConnect(ids...)
	}
	if dm, ok := m.(*daveyMember); ok {
		dm.known = ids
	}
	for _, other := range c.members {
		if dm, ok := other.(*daveyMember); ok && !slices.Contains(dm.known, m.id()) {
			dm.known = append(dm.known, m.id())
		}
	}
	d, err := c.ds.Connect(m.id())
	if err != nil {
		c.t.Fatal(err)
	}
	c.deliver(d)
	c.fromMember(m.id(), m.start(c.t))
}

// disconnect removes a member from the channel.
func (c *channel) disconnect(id uint64) {
	c.t.Helper()
	delete(c.members, id)
	for _, other := range c.members {
		if gs, ok := other.(*goMember); ok {
			gs.s.ClientDisconnect(id)
		}
	}
	c.deliver(c.ds.Disconnect(id))
}

// maxDeliveries bounds one burst of messages; DAVE settles in a few dozen.
const maxDeliveries = 2000

// deliver sends deliveries to members, feeding their answers back, until quiet.
func (c *channel) deliver(ds []Delivery) {
	c.t.Helper()
	for steps := 0; len(ds) > 0; steps++ {
		if steps == maxDeliveries {
			c.t.Fatalf("messages still flowing after %d deliveries:\n%s", maxDeliveries, c.trace())
		}
		d := ds[0]
		ds = ds[1:]
		m := c.members[d.UserID]
		if m == nil {
			continue
		}
		if c.tamper != nil {
			c.tamper(&d)
		}
		c.log = append(c.log, fmt.Sprintf("gw -> %d: op %d", d.UserID, d.Message.Op))
		if c.record && d.Message.Op == OpProposals {
			c.seenProposals = append(c.seenProposals, d.Message.Payload)
		}
		replies := m.handle(c.t, c.wire(d))
		ds = append(ds, c.collect(d.UserID, replies)...)
	}
}

// wire round-trips a message through its wire encoding, as a real connection would.
func (c *channel) wire(d Delivery) Message {
	c.t.Helper()
	m := d.Message
	if m.Op.IsBinary() {
		c.seq[d.UserID]++
		_, op, payload, err := ParseServerFrame(m.ServerFrame(c.seq[d.UserID]))
		if err != nil || op != m.Op {
			c.t.Fatalf("server frame: %v", err)
		}
		return Message{Op: op, Payload: payload}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	var env struct {
		Op Opcode          `json:"op"`
		D  json.RawMessage `json:"d"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		c.t.Fatal(err)
	}
	return Message{Op: env.Op, Data: env.D}
}

func (c *channel) fromMember(id uint64, msgs []Message) {
	c.t.Helper()
	c.deliver(c.collect(id, msgs))
}

// collect passes a member's messages to the delivery service.
func (c *channel) collect(from uint64, msgs []Message) []Delivery {
	c.t.Helper()
	var out []Delivery
	for _, m := range msgs {
		c.log = append(c.log, fmt.Sprintf("%d -> gw: op %d", from, m.Op))
		switch m.Op {
		case OpKeyPackage, OpCommitWelcome:
			op, payload, err := ParseClientFrame(m.ClientFrame())
			if err != nil || op != m.Op {
				c.t.Fatalf("client frame: %v", err)
			}
			if c.record && op == OpKeyPackage {
				c.seenKeyPackages = append(c.seenKeyPackages, payload)
			} else if c.record {
				c.seenCommits = append(c.seenCommits, payload)
			}
			var d []Delivery
			if op == OpKeyPackage {
				d, err = c.ds.KeyPackage(from, payload)
			} else {
				d, err = c.ds.CommitWelcome(from, payload, c.now)
			}
			if err != nil && err != ErrLosingCommit && !errors.Is(err, ErrIncompleteCommit) {
				c.t.Fatalf("delivery service, op %d from %d: %v", op, from, err)
			}
			out = append(out, d...)
		case OpTransitionReady:
			out = append(out, c.ds.Ready(from, m.Data.(Transition).TransitionID)...)
		case OpInvalidCommitWelcome:
			c.invalids++
			if !c.allowInvalids {
				c.t.Errorf("member %d reported an invalid commit or welcome", from)
			}
			out = append(out, c.ds.InvalidCommitWelcome(from, m.Data.(Transition).TransitionID)...)
		default:
			c.t.Fatalf("unexpected op %d from member %d", m.Op, from)
		}
	}
	return out
}

// goMember is a Go Session.
type goMember struct {
	s           *Session
	uid         uint64
	allowErrors bool
}

func newGoMember(t testing.TB, uid, channelID uint64, now func() time.Time) *goMember {
	s, err := NewSession(Config{UserID: uid, ChannelID: channelID, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return &goMember{s: s, uid: uid}
}

func (g *goMember) id() uint64 { return g.uid }

func (g *goMember) start(t testing.TB) []Message {
	msgs, err := g.s.Start(1)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func (g *goMember) handle(t testing.TB, m Message) []Message {
	t.Helper()
	var msgs []Message
	var err error
	if m.Op.IsBinary() {
		msgs, err = g.s.HandleBinary(Message{Op: m.Op, Payload: m.Payload}.ServerFrame(0))
	} else {
		msgs, err = g.s.HandleJSON(m.Op, m.Data.(json.RawMessage))
	}
	if err != nil && !g.allowErrors {
		t.Errorf("go member %d, op %d: %v", g.uid, m.Op, err)
	}
	// JSON replies travel as JSON: type them as the gateway would decode them.
	for i, r := range msgs {
		if !r.Op.IsBinary() {
			msgs[i].Data = r.Data.(Transition)
		}
	}
	return msgs
}

func (g *goMember) encrypt(t testing.TB, codec Codec, frame []byte) []byte {
	t.Helper()
	out, err := g.s.EncryptFrame(codec, nil, frame)
	if err != nil {
		t.Fatalf("go member %d encrypt: %v", g.uid, err)
	}
	return out
}

func (g *goMember) decrypt(sender uint64, _ Codec, frame []byte) ([]byte, error) {
	return g.s.DecryptFrame(sender, nil, frame)
}

func (g *goMember) epoch(testing.TB) uint64         { return g.s.Epoch() }
func (g *goMember) authenticator(testing.TB) []byte { return g.s.EpochAuthenticator() }
func (g *goMember) privacyCode(testing.TB) string   { return g.s.PrivacyCode() }

// daveyMember is a davey session driven the way @discordjs/voice drives it.
type daveyMember struct {
	s           *daveytest.Session
	uid         uint64
	known       []uint64
	allowErrors bool
}

func (d *daveyMember) id() uint64 { return d.uid }

func (d *daveyMember) start(t testing.TB) []Message {
	return []Message{{Op: OpKeyPackage, Payload: d.s.KeyPackage()}}
}

func (d *daveyMember) recognized() []string {
	var ids []string
	for _, id := range d.known {
		ids = append(ids, strconv.FormatUint(id, 10))
	}
	return ids
}

func (d *daveyMember) handle(t testing.TB, m Message) []Message {
	t.Helper()
	switch m.Op {
	case OpExternalSender:
		if err := d.s.SetExternalSender(m.Payload); err != nil {
			t.Fatalf("davey %d: external sender: %v", d.uid, err)
		}
	case OpProposals:
		cw, err := d.s.ProcessProposals(int(m.Payload[0]), m.Payload[1:], d.recognized())
		if err != nil {
			t.Fatalf("davey %d: proposals: %v", d.uid, err)
		}
		if cw.Commit != nil {
			return []Message{{Op: OpCommitWelcome, Payload: append(cw.Commit, cw.Welcome...)}}
		}
	case OpAnnounceCommit, OpWelcome:
		tid := binary.BigEndian.Uint16(m.Payload)
		var err error
		if m.Op == OpAnnounceCommit {
			err = d.s.ProcessCommit(m.Payload[2:])
		} else {
			err = d.s.ProcessWelcome(m.Payload[2:])
		}
		if err != nil {
			if !d.allowErrors {
				t.Errorf("davey %d rejected op %d: %v", d.uid, m.Op, err)
			}
			// As @discordjs/voice recovers: report, re-initialize, send a new key package.
			d.s.Reinit(d.uid)
			return []Message{{Op: OpInvalidCommitWelcome, Data: Transition{TransitionID: tid}}, {Op: OpKeyPackage, Payload: d.s.KeyPackage()}}
		}
		if tid != 0 {
			return []Message{{Op: OpTransitionReady, Data: Transition{TransitionID: tid}}}
		}
	case OpPrepareTransition:
		var p PrepareTransition
		json.Unmarshal(m.Data.(json.RawMessage), &p)
		if p.TransitionID != 0 {
			return []Message{{Op: OpTransitionReady, Data: Transition{TransitionID: p.TransitionID}}}
		}
	case OpPrepareEpoch:
		var p PrepareEpoch
		json.Unmarshal(m.Data.(json.RawMessage), &p)
		if p.Epoch == 1 {
			d.s.Reinit(d.uid)
			return []Message{{Op: OpKeyPackage, Payload: d.s.KeyPackage()}}
		}
	case OpExecuteTransition:
	default:
		t.Fatalf("davey %d: unexpected op %d", d.uid, m.Op)
	}
	return nil
}

// davey's codec and media type numbers.
func daveyKind(c Codec) (mediaType, codec int) {
	switch c {
	case CodecVP8:
		return 1, 2
	case CodecH264:
		return 1, 4
	}
	return 0, 1
}

func (d *daveyMember) encrypt(t testing.TB, codec Codec, frame []byte) []byte {
	t.Helper()
	mt, cd := daveyKind(codec)
	out, err := d.s.Encrypt(mt, cd, frame)
	if err != nil {
		t.Fatalf("davey %d encrypt: %v", d.uid, err)
	}
	return out
}

func (d *daveyMember) decrypt(sender uint64, codec Codec, frame []byte) ([]byte, error) {
	mt, _ := daveyKind(codec)
	return d.s.Decrypt(sender, mt, frame)
}

func (d *daveyMember) epoch(t testing.TB) uint64 {
	st := d.s.Status()
	if st.Epoch < 0 {
		return 0
	}
	return uint64(st.Epoch)
}

func (d *daveyMember) authenticator(t testing.TB) []byte { return d.s.Status().EpochAuthenticator }
func (d *daveyMember) privacyCode(t testing.TB) string   { return d.s.Status().PrivacyCode }
