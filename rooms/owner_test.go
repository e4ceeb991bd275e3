package rooms

import (
	"testing"

	"github.com/spellcoven/gateway/rooms/discordrest"
)

func TestOwnerIsTheOneMemberWithTheOwnerMark(t *testing.T) {
	const a, b = "1300000000000000001", "1300000000000000002"
	mark := OwnerPermissions
	member := func(id string, allow, deny discordrest.Permissions) discordrest.Overwrite {
		return discordrest.Overwrite{ID: id, Type: discordrest.OverwriteMember, Allow: allow, Deny: deny}
	}
	cases := []struct {
		name string
		ows  []discordrest.Overwrite
		want string
	}{
		{"no overwrites", nil, ""},
		{"the owner", []discordrest.Overwrite{member(a, mark, 0)}, a},
		{"the owner among others", []discordrest.Overwrite{
			{ID: "1100000000000000001", Type: discordrest.OverwriteRole, Deny: permViewChannel},
			member(b, permConnect|permSpeak, 0), member(a, mark|1<<0, 1<<11)}, a},
		{"extra allowed bits do not matter", []discordrest.Overwrite{member(a, mark|1<<4, 0)}, a},
		{"part of the mark is not enough", []discordrest.Overwrite{member(a, mark&^permMoveMembers, 0)}, ""},
		{"a denied mark bit disqualifies", []discordrest.Overwrite{member(a, mark, permSpeak)}, ""},
		{"a role with the mark is no owner", []discordrest.Overwrite{{ID: a, Type: discordrest.OverwriteRole, Allow: mark}}, ""},
		{"an id that is not a snowflake", []discordrest.Overwrite{member("alice", mark, 0)}, ""},
		{"two candidates: no owner", []discordrest.Overwrite{member(a, mark, 0), member(b, mark, 0)}, ""},
		{"the same member twice", []discordrest.Overwrite{member(a, mark, 0), member(a, mark, 0)}, a},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := OwnerID(tc.ows); got != tc.want {
				t.Fatalf("OwnerID = %q, want %q", got, tc.want)
			}
		})
	}
	if OwnerPermissions != 32507648 {
		t.Fatalf("OwnerPermissions = %d; docs/protocol.md and docs/rooms.md state 32507648", OwnerPermissions)
	}
}

func TestNewRoomsCopyTheCategoryAndMarkTheOwner(t *testing.T) {
	const a = "1300000000000000001"
	everyone := discordrest.Overwrite{ID: "1100000000000000001", Type: discordrest.OverwriteRole, Deny: permViewChannel}
	cases := []struct {
		name     string
		category []discordrest.Overwrite
		want     []discordrest.Overwrite
	}{
		{"empty category", nil, []discordrest.Overwrite{{ID: a, Type: 1, Allow: OwnerPermissions}}},
		{"category overwrites kept", []discordrest.Overwrite{everyone}, []discordrest.Overwrite{everyone, {ID: a, Type: 1, Allow: OwnerPermissions}}},
		{"the owner's own overwrite is merged", []discordrest.Overwrite{everyone, {ID: a, Type: 1, Allow: 1 << 11, Deny: permSpeak | 1<<15}},
			[]discordrest.Overwrite{everyone, {ID: a, Type: 1, Allow: OwnerPermissions | 1<<11, Deny: 1 << 15}}},
		// A member granted the whole mark by the category (a moderator) would make every new room
		// ownerless: in the room, they keep all of it but Priority Speaker, which hosts the table.
		{"another member with the whole mark", []discordrest.Overwrite{everyone, {ID: "1300000000000000009", Type: 1, Allow: OwnerPermissions | 1<<11}},
			[]discordrest.Overwrite{everyone, {ID: "1300000000000000009", Type: 1, Allow: OwnerPermissions&^permPrioritySpeaker | 1<<11}, {ID: a, Type: 1, Allow: OwnerPermissions}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := withOwner(tc.category, a)
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
			}
			if OwnerID(got) != a {
				t.Fatal("the result does not name the owner")
			}
		})
	}
}
