package voice

import "encoding/json"

// The voice gateway tells who sends with which SSRC: op 5 (speaking) for audio, op 12 for
// video. The receive side looks users up here; a version counter lets it notice changes
// without taking the lock per packet.

// handleEvent handles the voice gateway's events about other users.
func (c *Conn) handleEvent(op int, d json.RawMessage) {
	switch op {
	case opSpeaking:
		var v speakingIn
		if json.Unmarshal(d, &v) != nil || v.UserID == "" {
			return
		}
		c.mapSSRC(v.SSRC, v.UserID)
		c.emit(&SpeakingEvent{UserID: v.UserID, SSRC: v.SSRC, Speaking: v.Speaking})
	case opClientsConnect:
		var v clientsConnectData
		if json.Unmarshal(d, &v) != nil {
			return
		}
		c.emit(&ClientsConnectEvent{UserIDs: v.UserIDs})
	case opClientDisconnect:
		var v clientDisconnectData
		if json.Unmarshal(d, &v) != nil || v.UserID == "" {
			return
		}
		c.forgetUser(v.UserID)
		c.emit(&ClientDisconnectEvent{UserID: v.UserID})
	case opVideo:
		var v videoData
		if json.Unmarshal(d, &v) != nil || v.UserID == "" {
			return
		}
		c.mapSSRC(v.AudioSSRC, v.UserID)
		c.mapSSRC(v.VideoSSRC, v.UserID)
		c.usersMu.Lock()
		if v.VideoSSRC != 0 {
			c.videoSSRCs[v.UserID] = v.VideoSSRC
		} else {
			delete(c.videoSSRCs, v.UserID)
		}
		c.usersMu.Unlock()
		c.emit(&VideoEvent{UserID: v.UserID, AudioSSRC: v.AudioSSRC, VideoSSRC: v.VideoSSRC})
	}
}

func (c *Conn) mapSSRC(ssrc uint32, userID string) {
	if ssrc == 0 {
		return
	}
	c.usersMu.Lock()
	changed := c.ssrcUsers[ssrc] != userID
	c.ssrcUsers[ssrc] = userID
	c.usersMu.Unlock()
	if changed {
		c.usersVersion.Add(1)
		if m := c.media.Load(); m != nil {
			m.wake()
		}
	}
}

func (c *Conn) forgetUser(userID string) {
	c.usersMu.Lock()
	for ssrc, u := range c.ssrcUsers {
		if u == userID {
			delete(c.ssrcUsers, ssrc)
		}
	}
	delete(c.videoSSRCs, userID)
	c.usersMu.Unlock()
	c.usersVersion.Add(1)
	if m := c.media.Load(); m != nil {
		m.wake()
	}
}

// UserForSSRC returns the user sending with ssrc, as the voice gateway announced it.
func (c *Conn) UserForSSRC(ssrc uint32) (string, bool) {
	c.usersMu.RLock()
	defer c.usersMu.RUnlock()
	u, ok := c.ssrcUsers[ssrc]
	return u, ok
}

func (c *Conn) userForSSRC(ssrc uint32) string {
	u, _ := c.UserForSSRC(ssrc)
	return u
}

func (c *Conn) ssrcKnown(ssrc uint32) bool {
	_, ok := c.UserForSSRC(ssrc)
	return ok
}
