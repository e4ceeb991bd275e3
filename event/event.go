// Package event is the event contract v1 shared by the worker, which produces events from Discord
// dispatches, and the edge, which validates, applies and streams them to browsers.
//
// An event is an envelope (version, position, type, time, guild) around a typed payload. Its position
// (epoch, seq) is its identity: the worker's durable outbox assigns seq, one more per event, and a new
// epoch only when that outbox is lost. The edge applies each position once and resumes clients from it.
//
// Decoding is strict: unknown fields, unknown types and invalid payloads are errors that name the
// offending field, so a bad batch is refused whole and changes nothing.
package event

import (
	"encoding/json"
	"fmt"
	"time"
)

// Version is the contract version carried in every envelope's "v".
const Version = 1

// Type names an event type.
type Type string

// The event types of contract v1.
const (
	RoomCreated  Type = "room.created"
	RoomUpdated  Type = "room.updated"
	RoomDeleted  Type = "room.deleted"
	VoiceJoined  Type = "voice.joined"
	VoiceUpdated Type = "voice.updated"
	VoiceLeft    Type = "voice.left"
	// Snapshot carries every room with its members and replaces whatever the receiver held.
	Snapshot Type = "snapshot"
	// SystemStatus tells whether the worker's Discord link is up.
	SystemStatus Type = "system.status"
)

// Types lists every type of contract v1, in documentation order.
var Types = []Type{RoomCreated, RoomUpdated, RoomDeleted, VoiceJoined, VoiceUpdated, VoiceLeft, Snapshot, SystemStatus}

// Known reports whether t is a type of contract v1.
func (t Type) Known() bool {
	for _, k := range Types {
		if t == k {
			return true
		}
	}
	return false
}

// Position identifies an event: the outbox epoch and the sequence number within it.
type Position struct {
	Epoch string `json:"epoch"`
	Seq   uint64 `json:"seq"`
}

// String formats a position for logs as "epoch/seq".
func (p Position) String() string { return fmt.Sprintf("%s/%d", p.Epoch, p.Seq) }

// IsZero reports whether p names no position (no epoch).
func (p Position) IsZero() bool { return p.Epoch == "" }

// Event is the envelope of contract v1. Data holds the type's payload as JSON; Payload decodes it.
type Event struct {
	V       int             `json:"v"`
	Epoch   string          `json:"epoch"`
	Seq     uint64          `json:"seq"`
	Type    Type            `json:"type"`
	TS      time.Time       `json:"ts"`
	GuildID string          `json:"guild_id"`
	Data    json.RawMessage `json:"data"`

	// payload caches what Validate decoded from Data, so that applying a validated event does not
	// decode it again. Code that changes Data must call Validate again.
	payload any
}

// Position returns the event's identity.
func (e *Event) Position() Position { return Position{Epoch: e.Epoch, Seq: e.Seq} }

// New builds a valid event of type t at position pos with payload p, which must be the payload type
// that t carries (see Payload). The time is truncated to milliseconds and kept in UTC.
func New(pos Position, guildID string, ts time.Time, t Type, p any) (Event, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return Event{}, fmt.Errorf("event: encoding %s payload: %w", t, err)
	}
	e := Event{V: Version, Epoch: pos.Epoch, Seq: pos.Seq, Type: t, TS: ts.UTC().Truncate(time.Millisecond), GuildID: guildID, Data: data}
	if _, err := e.Payload(); err != nil {
		return Event{}, err
	}
	if err := e.validateEnvelope(); err != nil {
		return Event{}, err
	}
	return e, nil
}
