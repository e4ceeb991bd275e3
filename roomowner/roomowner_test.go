package roomowner

import "testing"

func TestOwnerIsTheOneMemberWithTheMark(t *testing.T) {
	const a, b = "1300000000000000001", "1300000000000000002"
	member := func(id string, allow, deny uint64) Overwrite {
		return Overwrite{ID: id, Type: TypeMember, Allow: allow, Deny: deny}
	}
	cases := []struct {
		name string
		ows  []Overwrite
		want string
	}{
		{"no overwrites", nil, ""},
		{"the owner", []Overwrite{member(a, Permissions, 0)}, a},
		{"the owner among others", []Overwrite{
			{ID: "1100000000000000001", Type: 0, Deny: ViewChannel},
			member(b, Connect|Speak, 0), member(a, Permissions|1<<0, 1<<11)}, a},
		{"extra allowed bits do not matter", []Overwrite{member(a, Permissions|1<<4, 0)}, a},
		{"part of the mark is not enough", []Overwrite{member(a, Permissions&^MoveMembers, 0)}, ""},
		{"a denied mark bit disqualifies", []Overwrite{member(a, Permissions, Speak)}, ""},
		{"a role with the mark is no owner", []Overwrite{{ID: a, Type: 0, Allow: Permissions}}, ""},
		{"an id that is not a snowflake", []Overwrite{member("alice", Permissions, 0)}, ""},
		{"two candidates: no owner", []Overwrite{member(a, Permissions, 0), member(b, Permissions, 0)}, ""},
		{"the same member twice", []Overwrite{member(a, Permissions, 0), member(a, Permissions, 0)}, a},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ID(tc.ows); got != tc.want {
				t.Fatalf("ID = %q, want %q", got, tc.want)
			}
		})
	}
	if Permissions != 32507648 {
		t.Fatalf("Permissions = %d; docs/protocol.md and docs/rooms.md state 32507648", Permissions)
	}
}

func TestTableOn(t *testing.T) {
	const bot = "1100000000000000003"
	cases := []struct {
		name string
		ows  []Overwrite
		want bool
	}{
		{"the bot let in with video", []Overwrite{{ID: bot, Type: TypeMember, Allow: TablePermissions}}, true},
		{"more allowed too", []Overwrite{{ID: bot, Type: TypeMember, Allow: TablePermissions | Speak}}, true},
		{"no overwrite", nil, false},
		{"video missing", []Overwrite{{ID: bot, Type: TypeMember, Allow: ViewChannel | Connect}}, false},
		{"a bit denied", []Overwrite{{ID: bot, Type: TypeMember, Allow: TablePermissions, Deny: Stream}}, false},
		{"a role with the bot's id", []Overwrite{{ID: bot, Type: 0, Allow: TablePermissions}}, false},
		{"another member", []Overwrite{{ID: "1300000000000000001", Type: TypeMember, Allow: TablePermissions}}, false},
	}
	for _, c := range cases {
		if got := TableOn(c.ows, bot); got != c.want {
			t.Errorf("%s: %v", c.name, got)
		}
	}
	if TableOn([]Overwrite{{ID: "", Type: TypeMember, Allow: TablePermissions}}, "") {
		t.Error("an unknown bot id turned table view on")
	}
}
