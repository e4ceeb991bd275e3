package voice

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/spellcoven/gateway/voice/dave"
)

// daveGroup builds a two-member DAVE group through a DeliveryService in process and returns
// the members' sessions once both encrypt.
func daveGroup(tb testing.TB) (a, b *dave.Session) {
	tb.Helper()
	const channel = 100
	ds, err := dave.NewDeliveryService(dave.ServiceConfig{ChannelID: channel})
	if err != nil {
		tb.Fatal(err)
	}
	members := map[uint64]*dave.Session{}
	for _, id := range []uint64{1, 2} {
		s, err := dave.NewSession(dave.Config{UserID: id, ChannelID: channel})
		if err != nil {
			tb.Fatal(err)
		}
		s.ClientsConnect(1, 2)
		members[id] = s
	}
	var route func(ds0 []dave.Delivery)
	fromMember := func(id uint64, msgs []dave.Message) []dave.Delivery {
		var out []dave.Delivery
		for _, m := range msgs {
			var d []dave.Delivery
			var err error
			switch m.Op {
			case dave.OpKeyPackage:
				d, err = ds.KeyPackage(id, m.Payload)
			case dave.OpCommitWelcome:
				d, err = ds.CommitWelcome(id, m.Payload, time.Now())
				if errors.Is(err, dave.ErrLosingCommit) || errors.Is(err, dave.ErrIncompleteCommit) {
					err = nil
				}
			case dave.OpTransitionReady:
				d = ds.Ready(id, m.Data.(dave.Transition).TransitionID)
			default:
				tb.Fatalf("member %d sent op %d", id, m.Op)
			}
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, d...)
		}
		return out
	}
	route = func(q []dave.Delivery) {
		for len(q) > 0 {
			d := q[0]
			q = q[1:]
			s := members[d.UserID]
			var msgs []dave.Message
			var err error
			if d.Message.Op.IsBinary() {
				msgs, err = s.HandleBinary(d.Message.ServerFrame(0))
			} else {
				raw, _ := json.Marshal(d.Message.Data)
				msgs, err = s.HandleJSON(d.Message.Op, raw)
			}
			if err != nil {
				tb.Fatal(err)
			}
			q = append(q, fromMember(d.UserID, msgs)...)
		}
	}
	for _, id := range []uint64{1, 2} {
		d, err := ds.Connect(id)
		if err != nil {
			tb.Fatal(err)
		}
		route(d)
		msgs, err := members[id].Start(dave.ProtocolVersion)
		if err != nil {
			tb.Fatal(err)
		}
		route(fromMember(id, msgs))
	}
	if !members[1].Ready() || !members[2].Ready() || !ds.Settled() {
		tb.Fatal("the group did not settle")
	}
	return members[1], members[2]
}

// BenchmarkSendOpusE2EE is BenchmarkSendOpus with DAVE frame encryption in an established
// group: the whole per-packet send path of a default connection.
func BenchmarkSendOpusE2EE(b *testing.B) {
	sess, peer := daveGroup(b)
	c, _, _ := benchConn(b, ModeAES256GCM, nil)
	c.e2ee.Store(sess)
	c.cfg.FrameEncryptor = e2eeFrames{c}
	// The frames really are end-to-end encrypted: the peer opens one.
	enc, err := e2eeFrames{c}.EncryptFrame(MediaAudio, nil, benchPayload)
	if err != nil || !dave.IsProtocolFrame(enc) {
		b.Fatalf("encrypt: %v", err)
	}
	if dec, err := peer.DecryptFrame(1, nil, enc); err != nil || string(dec) != string(benchPayload) {
		b.Fatalf("the peer cannot decrypt: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.sendAudio(benchPayload, 960); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}
