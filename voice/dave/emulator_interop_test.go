package dave_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/voice"
	"github.com/spellcoven/gateway/voice/dave"
	"github.com/spellcoven/gateway/voice/dave/internal/daveytest"
)

// daveyUser is an emulated user whose DAVE client is davey (OpenMLS), driven the way
// @discordjs/voice drives it, plugged into the emulator's voice server.
type daveyUser struct {
	s   *daveytest.Session
	uid uint64

	mu    sync.Mutex
	known []uint64
	errs  []error
}

func (d *daveyUser) fail(err error) {
	d.mu.Lock()
	d.errs = append(d.errs, err)
	d.mu.Unlock()
}

func (d *daveyUser) failures() []error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.errs)
}

func (d *daveyUser) ClientsConnect(ids ...uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		if !slices.Contains(d.known, id) {
			d.known = append(d.known, id)
		}
	}
}

func (d *daveyUser) ClientDisconnect(id uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.known = slices.DeleteFunc(d.known, func(k uint64) bool { return k == id })
}

func (d *daveyUser) recognized() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	ids := []string{strconv.FormatUint(d.uid, 10)}
	for _, id := range d.known {
		ids = append(ids, strconv.FormatUint(id, 10))
	}
	return ids
}

func (d *daveyUser) keyPackage() ([]dave.Message, error) {
	kp, err := d.s.TryKeyPackage()
	if err != nil {
		return nil, err
	}
	return []dave.Message{{Op: dave.OpKeyPackage, Payload: kp}}, nil
}

func (d *daveyUser) Start(int) ([]dave.Message, error) { return d.keyPackage() }

func (d *daveyUser) HandleBinary(frame []byte) ([]dave.Message, error) {
	_, op, payload, err := dave.ParseServerFrame(frame)
	if err != nil {
		return nil, err
	}
	switch op {
	case dave.OpExternalSender:
		return nil, d.s.SetExternalSender(payload)
	case dave.OpProposals:
		cw, err := d.s.ProcessProposals(int(payload[0]), payload[1:], d.recognized())
		if err != nil || cw.Commit == nil {
			return nil, err
		}
		return []dave.Message{{Op: dave.OpCommitWelcome, Payload: append(cw.Commit, cw.Welcome...)}}, nil
	case dave.OpAnnounceCommit, dave.OpWelcome:
		tid := binary.BigEndian.Uint16(payload)
		if op == dave.OpAnnounceCommit {
			err = d.s.ProcessCommit(payload[2:])
		} else {
			err = d.s.ProcessWelcome(payload[2:])
		}
		if err != nil {
			d.fail(fmt.Errorf("op %d: %w", op, err))
			if rerr := d.s.TryReinit(d.uid); rerr != nil {
				return nil, rerr
			}
			kp, kerr := d.keyPackage()
			return append([]dave.Message{{Op: dave.OpInvalidCommitWelcome, Data: dave.Transition{TransitionID: tid}}}, kp...), kerr
		}
		if tid != 0 {
			return []dave.Message{{Op: dave.OpTransitionReady, Data: dave.Transition{TransitionID: tid}}}, nil
		}
		return nil, nil
	}
	return nil, fmt.Errorf("davey user: unexpected binary op %d", op)
}

func (d *daveyUser) HandleJSON(op dave.Opcode, raw []byte) ([]dave.Message, error) {
	switch op {
	case dave.OpPrepareTransition:
		var p dave.PrepareTransition
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		if p.TransitionID != 0 {
			return []dave.Message{{Op: dave.OpTransitionReady, Data: dave.Transition{TransitionID: p.TransitionID}}}, nil
		}
	case dave.OpPrepareEpoch:
		var p dave.PrepareEpoch
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		if p.Epoch == 1 {
			if err := d.s.TryReinit(d.uid); err != nil {
				return nil, err
			}
			return d.keyPackage()
		}
	case dave.OpExecuteTransition:
	default:
		return nil, fmt.Errorf("davey user: unexpected JSON op %d", op)
	}
	return nil, nil
}

// davey's media type and codec numbers.
func daveyKind(c dave.Codec) (mediaType, codec int) {
	if c == dave.CodecVP8 {
		return 1, 2
	}
	return 0, 1
}

func (d *daveyUser) EncryptFrame(c dave.Codec, dst, frame []byte) ([]byte, error) {
	mt, cd := daveyKind(c)
	out, err := d.s.Encrypt(mt, cd, frame)
	return append(dst, out...), err
}

// DecryptFrame cannot tell audio from video; davey's decryption does not depend on it.
func (d *daveyUser) DecryptFrame(sender uint64, dst, frame []byte) ([]byte, error) {
	out, err := d.s.Decrypt(sender, 0, frame)
	return append(dst, out...), err
}

func (d *daveyUser) status() daveytest.Status {
	st, err := d.s.TryStatus()
	if err != nil {
		d.fail(err)
	}
	return st
}

func (d *daveyUser) Ready() bool         { return d.status().Ready }
func (d *daveyUser) PrivacyCode() string { return d.status().PrivacyCode }
func (d *daveyUser) Epoch() uint64 {
	if e := d.status().Epoch; e > 0 {
		return uint64(e)
	}
	return 0
}

const (
	emuGuild   = "1100000000000000001"
	emuChannel = "1100000000000000002"
	emuBot     = "1100000000000000003"
	emuDavey   = "1100000000000000004"
	emuGoUser  = "1100000000000000005"
)

func mediaFile(name string) string { return filepath.Join("..", "testdata", "media", name) }

func opusPackets(t *testing.T, name string) [][]byte {
	t.Helper()
	packets, err := voice.ReadOggOpusFile(mediaFile(name))
	if err != nil {
		t.Fatal(err)
	}
	return packets
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestInteropOverTheEmulator: davey (OpenMLS) joins an emulated voice channel as a user
// beside the Go voice client, through the emulator's voice server over real WebSockets and
// UDP. Each decrypts the other's audio; davey decrypts the Go client's VP8; a Go emulated
// user joining and leaving moves the group to new epochs, after which the same holds.
func TestInteropOverTheEmulator(t *testing.T) {
	peer := daveytest.Start(t)
	vs, err := voiceserver.New(voiceserver.Config{HeartbeatInterval: 200 * time.Millisecond, HeartbeatTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := vs.Start(); err != nil {
		t.Fatal(err)
	}
	defer vs.Close()
	endpoint, token := vs.Allocate(discordtest.VoiceGrant{GuildID: emuGuild, ChannelID: emuChannel, UserID: emuBot, SessionID: "s1"})
	rec, err := voice.NewRecorder(voice.RecorderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bot, err := voice.Dial(ctx, voice.ServerInfo{GuildID: emuGuild, ChannelID: emuChannel, UserID: emuBot, SessionID: "s1", Token: token, Endpoint: endpoint},
		voice.Config{Scheme: "ws", Media: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer bot.Close()

	channelID, _ := strconv.ParseUint(emuChannel, 10, 64)
	dv := &daveyUser{s: peer.NewSession("davey", 1100000000000000004, channelID), uid: 1100000000000000004}
	du, err := vs.JoinUserWith(emuGuild, emuChannel, emuDavey, voiceserver.UserOptions{
		E2EE: func(uint64, uint64) (voiceserver.E2EEMember, error) { return dv, nil },
	})
	if err != nil {
		t.Fatal(err)
	}

	sameGroup := func(step string, members int) {
		t.Helper()
		waitUntil(t, step+": one group", func() bool {
			s := bot.DAVE()
			g, _ := vs.DAVEGroup(emuGuild, emuChannel)
			return s.Ready() && len(g.Members) == members && s.Epoch() == g.Epoch && dv.Epoch() == g.Epoch &&
				dv.Ready() && dv.PrivacyCode() == s.PrivacyCode()
		})
	}
	exchange := func(step, tone string) {
		t.Helper()
		// davey speaks: the bot hears the file's packets.
		want := opusPackets(t, tone)[:20]
		before := len(rec.Audio(emuDavey))
		if _, err := du.SendOpus(context.Background(), want, voiceserver.SendOptions{Interval: 2 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, step+": davey's audio at the bot", func() bool { return len(rec.Audio(emuDavey)) >= before+len(want) })
		if got := rec.Audio(emuDavey)[before:]; !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("%s: the bot heard other audio than davey sent", step)
		}
		// The bot speaks and shows video: davey decrypts what the server relays.
		sent := len(vs.Received(bot.SSRC()))
		for _, p := range want {
			if err := bot.SendOpus(p); err != nil {
				t.Fatal(err)
			}
		}
		waitUntil(t, step+": the bot's audio at the server", func() bool { return len(vs.Received(bot.SSRC())) >= sent+len(want) })
		for i, p := range vs.Received(bot.SSRC())[sent : sent+len(want)] {
			if !dave.IsProtocolFrame(p.Payload) {
				t.Fatalf("%s: the bot's packet %d crossed the server in the clear", step, i)
			}
			heard, err := du.Hear(emuBot, p.Payload)
			if err != nil || !bytes.Equal(heard, want[i]) {
				t.Fatalf("%s: davey cannot hear the bot's packet %d: %v", step, i, err)
			}
		}
		frame := append([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}, bytes.Repeat([]byte(step), 300)...)
		videoSent := len(vs.Received(bot.SSRC() + 1))
		if err := bot.SendVP8Frame(frame, uint32(len(step))*3000); err != nil {
			t.Fatal(err)
		}
		var assembled []byte
		waitUntil(t, step+": the bot's video frame at the server", func() bool {
			var a voice.VP8Assembler
			for _, p := range vs.Received(bot.SSRC() + 1)[videoSent:] {
				if f, ok := a.Push(p.Sequence, p.Marker, p.Payload); ok {
					assembled = slices.Clone(f)
					return true
				}
			}
			return false
		})
		if !dave.IsProtocolFrame(assembled) {
			t.Fatalf("%s: the video frame crossed the server in the clear", step)
		}
		if got, err := du.Hear(emuBot, assembled); err != nil || !bytes.Equal(got, frame) {
			t.Fatalf("%s: davey cannot decrypt the bot's VP8 frame: %v", step, err)
		}
	}

	sameGroup("davey joins", 2)
	exchange("two members", "tone-a.opus")

	gu, err := vs.JoinUser(emuGuild, emuChannel, emuGoUser)
	if err != nil {
		t.Fatal(err)
	}
	sameGroup("a Go user joins", 3)
	exchange("three members", "tone-b.opus")

	if err := gu.Leave(); err != nil {
		t.Fatal(err)
	}
	sameGroup("the Go user leaves", 2)
	exchange("two again", "tone-c.opus")

	if errs := dv.failures(); len(errs) != 0 {
		t.Fatalf("davey reported %v", errs)
	}
	if c := vs.Counters(); c.DAVEErrors != 0 || c.DAVEInvalidCommits != 0 {
		t.Fatalf("voice server counters %+v", c)
	}
}
