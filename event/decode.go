package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of contract v1. They bound what one event may carry so that a single bad or hostile batch
// cannot make the edge hold unbounded state.
const (
	MaxRoomName      = 100   // characters, as Discord allows for channel names
	MaxUserLimit     = 99    // Discord's voice channel user_limit range is 0-99, 0 meaning none
	MaxEpochLength   = 64    // bytes
	MaxRooms         = 500   // a guild holds at most 500 channels
	MaxRoomMembers   = 10000 // members listed for one room in a snapshot
	MaxNameLength    = 100   // bytes of a username, global name or avatar hash
	maxSnowflakeSize = 20    // decimal digits of a uint64
)

// Error is a validation error naming the offending field with a path such as
// "events[3].data.room.name". Callers answer it with 400.
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return "event: " + e.Msg
	}
	return "event: " + e.Path + ": " + e.Msg
}

func errAt(path, format string, args ...any) error {
	return &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// prefixed returns err with path prepended to its field path.
func prefixed(path string, err error) error {
	var ve *Error
	if errors.As(err, &ve) {
		p := path
		if ve.Path != "" {
			p = path + "." + ve.Path
		}
		return &Error{Path: p, Msg: ve.Msg}
	}
	return &Error{Path: path, Msg: err.Error()}
}

// decodeStrict decodes exactly one JSON value into v, refusing unknown fields and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &Error{Msg: jsonMessage(err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &Error{Msg: "unexpected data after the JSON value"}
	}
	return nil
}

// jsonMessage rewords encoding/json errors without the "json: " prefix noise.
func jsonMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("field %q must be %s, not %s", te.Field, te.Type.String(), te.Value)
		}
		return fmt.Sprintf("must be %s, not %s", te.Type.String(), te.Value)
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if err == io.EOF {
		msg = "empty body"
	}
	return "invalid JSON: " + msg
}

// Decode parses and validates one event.
func Decode(data []byte) (Event, error) {
	var e Event
	if err := decodeStrict(data, &e); err != nil {
		return Event{}, err
	}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// Validate checks the envelope and the payload of e.
func (e *Event) Validate() error {
	if err := e.validateEnvelope(); err != nil {
		return err
	}
	e.payload = nil
	p, err := e.Payload()
	if err != nil {
		return err
	}
	e.payload = p
	return nil
}

func (e *Event) validateEnvelope() error {
	switch {
	case e.V != Version:
		return errAt("v", "unsupported contract version %d (this edge speaks %d)", e.V, Version)
	case e.Epoch == "":
		return errAt("epoch", "required")
	case !validEpoch(e.Epoch):
		return errAt("epoch", "must be 1-%d characters of letters, digits, '-', '_', '.' or ':'", MaxEpochLength)
	case e.Seq == 0:
		return errAt("seq", "must be at least 1")
	case e.Seq == math.MaxUint64:
		// Receivers expect last seq + 1 next; the top value would leave no successor.
		return errAt("seq", "must be below %d", uint64(math.MaxUint64))
	case e.Type == "":
		return errAt("type", "required")
	case !e.Type.Known():
		return errAt("type", "unknown event type %q", string(e.Type))
	case e.TS.IsZero():
		return errAt("ts", "required (RFC 3339)")
	case !validSnowflake(e.GuildID):
		return errAt("guild_id", "must be a Discord snowflake (decimal digits)")
	}
	return nil
}

// Payload decodes and validates the event's data into the payload type its Type carries:
// *RoomPayload, *RoomDeletedPayload, *VoiceMemberPayload, *VoiceLeftPayload, *SnapshotPayload or
// *SystemStatusPayload. After Validate it returns the payload Validate decoded; callers must not
// modify it.
func (e *Event) Payload() (any, error) {
	if e.payload != nil {
		return e.payload, nil
	}
	if len(e.Data) == 0 || string(e.Data) == "null" {
		return nil, errAt("data", "required")
	}
	var p interface{ validate() error }
	switch e.Type {
	case RoomCreated, RoomUpdated:
		p = new(RoomPayload)
	case RoomDeleted:
		p = new(RoomDeletedPayload)
	case VoiceJoined, VoiceUpdated:
		p = new(VoiceMemberPayload)
	case VoiceLeft:
		p = new(VoiceLeftPayload)
	case Snapshot:
		p = new(SnapshotPayload)
	case SystemStatus:
		p = new(SystemStatusPayload)
	default:
		return nil, errAt("type", "unknown event type %q", string(e.Type))
	}
	if err := decodeStrict(e.Data, p); err != nil {
		return nil, prefixed("data", err)
	}
	if err := p.validate(); err != nil {
		return nil, prefixed("data", err)
	}
	return p, nil
}

func (r *Room) validate() error {
	if !validSnowflake(r.ID) {
		return errAt("id", "must be a Discord snowflake")
	}
	if err := ValidateRoomName(r.Name); err != nil {
		return prefixed("name", err)
	}
	if r.UserLimit < 0 || r.UserLimit > MaxUserLimit {
		return errAt("user_limit", "must be 0-%d", MaxUserLimit)
	}
	if r.Position < 0 {
		return errAt("position", "must not be negative")
	}
	if r.OwnerID != "" && !validSnowflake(r.OwnerID) {
		return errAt("owner_id", "must be a Discord snowflake")
	}
	return nil
}

// ValidateRoomName checks a room name as stored: 1-100 characters, no control characters, and no
// leading or trailing white space (callers trim user input first).
func ValidateRoomName(name string) error {
	n := utf8.RuneCountInString(name)
	switch {
	case !utf8.ValidString(name):
		return &Error{Msg: "must be valid UTF-8"}
	case n == 0:
		return &Error{Msg: "must not be empty"}
	case n > MaxRoomName:
		return &Error{Msg: fmt.Sprintf("must be at most %d characters", MaxRoomName)}
	case strings.TrimSpace(name) != name:
		return &Error{Msg: "must not start or end with white space"}
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return &Error{Msg: "must not contain control characters"}
		}
	}
	return nil
}

func (m *Member) validate() error {
	if !validSnowflake(m.UserID) {
		return errAt("user_id", "must be a Discord snowflake")
	}
	for _, f := range []struct{ name, v string }{{"username", m.Username}, {"global_name", m.GlobalName}, {"avatar", m.Avatar}} {
		if len(f.v) > MaxNameLength || !utf8.ValidString(f.v) {
			return errAt(f.name, "must be valid UTF-8 of at most %d bytes", MaxNameLength)
		}
	}
	return nil
}

func (p *RoomPayload) validate() error { return wrap("room", p.Room.validate()) }

func (p *RoomDeletedPayload) validate() error {
	if !validSnowflake(p.RoomID) {
		return errAt("room_id", "must be a Discord snowflake")
	}
	return nil
}

func (p *VoiceMemberPayload) validate() error {
	if !validSnowflake(p.RoomID) {
		return errAt("room_id", "must be a Discord snowflake")
	}
	return wrap("member", p.Member.validate())
}

func (p *VoiceLeftPayload) validate() error {
	if !validSnowflake(p.RoomID) {
		return errAt("room_id", "must be a Discord snowflake")
	}
	if !validSnowflake(p.UserID) {
		return errAt("user_id", "must be a Discord snowflake")
	}
	return nil
}

func (p *SnapshotPayload) validate() error {
	if p.Rooms == nil {
		return errAt("rooms", "required (use [] for none)")
	}
	if len(p.Rooms) > MaxRooms {
		return errAt("rooms", "at most %d rooms", MaxRooms)
	}
	seenRoom := make(map[string]bool, len(p.Rooms))
	seenUser := make(map[string]bool)
	for i := range p.Rooms {
		rs := &p.Rooms[i]
		path := fmt.Sprintf("rooms[%d]", i)
		if err := rs.Room.validate(); err != nil {
			return prefixed(path, err)
		}
		if seenRoom[rs.ID] {
			return errAt(path+".id", "room %s listed twice", rs.ID)
		}
		seenRoom[rs.ID] = true
		if len(rs.Members) > MaxRoomMembers {
			return errAt(path+".members", "at most %d members", MaxRoomMembers)
		}
		for j := range rs.Members {
			mpath := fmt.Sprintf("%s.members[%d]", path, j)
			if err := rs.Members[j].validate(); err != nil {
				return prefixed(mpath, err)
			}
			// A user is in at most one voice channel of a guild at a time.
			if seenUser[rs.Members[j].UserID] {
				return errAt(mpath+".user_id", "user %s is in more than one room", rs.Members[j].UserID)
			}
			seenUser[rs.Members[j].UserID] = true
		}
	}
	return nil
}

func (p *SystemStatusPayload) validate() error {
	switch p.Discord {
	case DiscordUp, DiscordReconnecting, DiscordDown:
		return nil
	}
	return errAt("discord", "must be %q, %q or %q", DiscordUp, DiscordReconnecting, DiscordDown)
}

func wrap(path string, err error) error {
	if err == nil {
		return nil
	}
	return prefixed(path, err)
}

// ValidSnowflake reports whether s is a Discord snowflake: a decimal uint64 without sign or leading zero.
func ValidSnowflake(s string) bool { return validSnowflake(s) }

func validSnowflake(s string) bool {
	if len(s) == 0 || len(s) > maxSnowflakeSize || s[0] == '0' {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

func validEpoch(s string) bool {
	if len(s) == 0 || len(s) > MaxEpochLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}
