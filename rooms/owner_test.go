package rooms

import (
	"testing"

	"github.com/spellcoven/gateway/rooms/discordrest"
)

// The rule itself is roomowner's (and tested there); the rooms API applies it to Discord's overwrites.
func TestOwnerIDReadsDiscordOverwrites(t *testing.T) {
	const a = "1300000000000000001"
	ows := []discordrest.Overwrite{
		{ID: "1100000000000000001", Type: discordrest.OverwriteRole, Deny: permViewChannel},
		{ID: a, Type: discordrest.OverwriteMember, Allow: OwnerPermissions},
	}
	if got := OwnerID(ows); got != a {
		t.Fatalf("OwnerID = %q, want %q", got, a)
	}
	if OwnerID(ows[:1]) != "" {
		t.Fatal("a role overwrite made an owner")
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
