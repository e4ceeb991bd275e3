package voiceserver

import (
	"crypto/rand"
	"encoding/json"
	"net"
	"slices"
	"strconv"

	"github.com/spellcoven/gateway/voice"
)

// selectProtocolLocked answers op 1 with a fresh random key in the chosen mode (4016 for a mode
// not offered) and then tells the client who is already in the call.
func (c *wsConn) selectProtocolLocked(d json.RawMessage) {
	s := c.srv
	sess := c.sess
	var sp struct {
		Protocol string `json:"protocol"`
		Data     struct {
			Address string `json:"address"`
			Port    int    `json:"port"`
			Mode    string `json:"mode"`
		} `json:"data"`
		Codecs []selectedCodec `json:"codecs"`
	}
	if err := json.Unmarshal(d, &sp); err != nil {
		c.closeWith(closeDecodeError, "Failed to decode payload.")
		return
	}
	if sp.Protocol != "udp" {
		c.closeWith(closeUnknownProtocol, "Unknown protocol.")
		return
	}
	if !slices.Contains(s.cfg.Modes, sp.Data.Mode) {
		c.closeWith(closeUnknownEncryptionMode, "Unknown encryption mode.")
		return
	}
	ip := net.ParseIP(sp.Data.Address)
	if ip == nil || sp.Data.Port <= 0 || sp.Data.Port > 65535 {
		c.closeWith(closeDecodeError, "Failed to decode payload.")
		return
	}
	key := make([]byte, voice.KeySize)
	_, _ = rand.Read(key)
	sealer, err := voice.NewSealer(voice.Mode(sp.Data.Mode), key)
	if err != nil {
		c.closeWith(closeUnknownEncryptionMode, "Unknown encryption mode.")
		return
	}
	opener, _ := voice.NewOpener(voice.Mode(sp.Data.Mode), key)
	sess.sendMu.Lock()
	sess.sealer = sealer
	sess.sendMu.Unlock()
	sess.opener = opener
	sess.mode = sp.Data.Mode
	sess.videoPTs = videoPTs(sp.Codecs)
	videoCodec := codecVP8
	if _, ok := sess.videoPTs[codecVP8]; !ok {
		for name := range sess.videoPTs {
			videoCodec = name
		}
	}
	sess.botAddr = &net.UDPAddr{IP: ip, Port: sp.Data.Port}
	sess.daveVersion = s.daveVersionFor(sess)
	keyInts := make([]int, len(key))
	for i, b := range key {
		keyInts[i] = int(b)
	}
	s.sendLocked(sess, opSessionDescription, map[string]any{
		"mode":                  sp.Data.Mode,
		"secret_key":            keyInts,
		"audio_codec":           "opus",
		"video_codec":           videoCodec,
		"media_session_id":      randomID(),
		"dave_protocol_version": sess.daveVersion,
	})
	// Who is already in the call: emulated users, then other bots.
	var ids []string
	for id := range s.calls[grantKey(sess.guildID, sess.channelID)] {
		ids = append(ids, id)
	}
	for _, other := range s.sessionsInCallLocked(sess.guildID, sess.channelID) {
		if other != sess {
			ids = append(ids, other.bot)
		}
	}
	if len(ids) > 0 {
		slices.Sort(ids)
		s.sendLocked(sess, opClientsConnect, map[string]any{"user_ids": ids})
	}
	for _, u := range s.calls[grantKey(sess.guildID, sess.channelID)] {
		if u.speaking != 0 {
			s.sendLocked(sess, opSpeaking, map[string]any{"user_id": u.ID, "ssrc": u.SSRC, "speaking": u.speaking})
		}
		if u.video {
			s.sendLocked(sess, opVideo, u.videoPayload())
		}
	}
	for _, other := range s.sessionsInCallLocked(sess.guildID, sess.channelID) {
		if other != sess {
			s.sendLocked(other, opClientsConnect, map[string]any{"user_ids": []string{sess.bot}})
		}
	}
	switch {
	case sess.daveVersion > 0 && !sess.daveMember:
		s.daveJoinBotLocked(sess)
	case sess.maxDAVE < 1:
		s.daveDowngradeLocked(sess.guildID, sess.channelID)
	}
}

// speakingLocked records the bot's speaking state and relays it to the other bots in the call.
func (c *wsConn) speakingLocked(d json.RawMessage) {
	s := c.srv
	sess := c.sess
	var sp struct {
		Speaking *int   `json:"speaking"`
		SSRC     uint32 `json:"ssrc"`
	}
	if err := json.Unmarshal(d, &sp); err != nil || sp.Speaking == nil {
		c.closeWith(closeDecodeError, "Failed to decode payload.")
		return
	}
	sess.speaking = *sp.Speaking
	for _, other := range s.sessionsInCallLocked(sess.guildID, sess.channelID) {
		if other != sess {
			s.sendLocked(other, opSpeaking, map[string]any{"user_id": sess.bot, "ssrc": sess.ssrc, "speaking": sess.speaking})
		}
	}
}

// videoLocked records the bot's video announcement and relays it with its user ID.
func (c *wsConn) videoLocked(d json.RawMessage) {
	s := c.srv
	sess := c.sess
	var v map[string]any
	if err := json.Unmarshal(d, &v); err != nil {
		c.closeWith(closeDecodeError, "Failed to decode payload.")
		return
	}
	sess.video = append(json.RawMessage(nil), d...)
	v["user_id"] = sess.bot
	for _, other := range s.sessionsInCallLocked(sess.guildID, sess.channelID) {
		if other != sess {
			s.sendLocked(other, opVideo, v)
		}
	}
}

// mediaSinkWantsLocked records op 15: {"any": quality} and {"<ssrc>": quality, ...}, quality
// 0 (none) to 100. Discord's voice server forwards another member's video to a client only
// after it asked for it this way.
func (c *wsConn) mediaSinkWantsLocked(d json.RawMessage) {
	var raw map[string]int
	if err := json.Unmarshal(d, &raw); err != nil {
		c.closeWith(closeDecodeError, "Failed to decode payload.")
		return
	}
	wants := make(map[uint32]int, len(raw))
	any := c.sess.wantsAny
	for k, q := range raw {
		if q < 0 || q > 100 {
			c.closeWith(closeDecodeError, "Failed to decode payload.")
			return
		}
		if k == "any" {
			any = q
			continue
		}
		ssrc, err := strconv.ParseUint(k, 10, 32)
		if err != nil {
			c.closeWith(closeDecodeError, "Failed to decode payload.")
			return
		}
		wants[uint32(ssrc)] = q
	}
	c.sess.wantsAny = any
	for ssrc, q := range wants {
		if c.sess.wants == nil {
			c.sess.wants = make(map[uint32]int)
		}
		c.sess.wants[ssrc] = q
	}
	c.sess.ops = append(c.sess.ops, Op{Op: opMediaSinkWants, D: append(json.RawMessage(nil), d...)})
}

// wantsVideoLocked reports whether the session asked for the video of ssrc.
func (sess *session) wantsVideoLocked(ssrc uint32) bool {
	if q, ok := sess.wants[ssrc]; ok {
		return q > 0
	}
	return sess.wantsAny > 0
}
