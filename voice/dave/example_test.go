package dave_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spellcoven/gateway/voice/dave"
)

// Example wires two members and a delivery service the way a voice gateway and its clients
// do, then sends one end-to-end encrypted Opus frame.
func Example() {
	const channelID = 42
	ds, _ := dave.NewDeliveryService(dave.ServiceConfig{ChannelID: channelID})
	alice, _ := dave.NewSession(dave.Config{UserID: 1, ChannelID: channelID})
	bob, _ := dave.NewSession(dave.Config{UserID: 2, ChannelID: channelID})
	members := map[uint64]*dave.Session{1: alice, 2: bob}
	alice.ClientsConnect(1, 2) // opcode 11 from the voice gateway
	bob.ClientsConnect(1, 2)

	// route plays the voice gateway: it delivers messages and feeds the answers back.
	var route func(ds0 []dave.Delivery)
	fromMember := func(from uint64, msgs []dave.Message) {
		for _, m := range msgs {
			var out []dave.Delivery
			switch m.Op {
			case dave.OpKeyPackage:
				out, _ = ds.KeyPackage(from, m.Payload)
			case dave.OpCommitWelcome:
				out, _ = ds.CommitWelcome(from, m.Payload, time.Now())
			case dave.OpTransitionReady:
				out = ds.Ready(from, m.Data.(dave.Transition).TransitionID)
			}
			route(out)
		}
	}
	route = func(deliveries []dave.Delivery) {
		for _, d := range deliveries {
			s := members[d.UserID]
			var msgs []dave.Message
			if d.Message.Op.IsBinary() {
				msgs, _ = s.HandleBinary(d.Message.ServerFrame(0))
			} else {
				data, _ := json.Marshal(d.Message.Data)
				msgs, _ = s.HandleJSON(d.Message.Op, data)
			}
			fromMember(d.UserID, msgs)
		}
	}
	for _, id := range []uint64{1, 2} {
		d, _ := ds.Connect(id) // opcode 25
		route(d)
		msgs, _ := members[id].Start(1) // session description: dave_protocol_version 1
		fromMember(id, msgs)
	}

	frame := []byte{0xFC, 0xFF, 0xFE, 0x01, 0x02}
	enc, _ := alice.EncryptFrame(dave.CodecOpus, nil, frame)
	dec, _ := bob.DecryptFrame(1, nil, enc)
	fmt.Println("ready:", alice.Ready(), bob.Ready())
	fmt.Println("epoch:", alice.Epoch(), "members:", bob.Members())
	fmt.Println("encrypted:", dave.IsProtocolFrame(enc), "decrypted:", fmt.Sprintf("%x", dec))
	fmt.Println("same privacy code:", alice.PrivacyCode() == bob.PrivacyCode())
	// Output:
	// ready: true true
	// epoch: 1 members: [1 2]
	// encrypted: true decrypted: fcfffe0102
	// same privacy code: true
}
