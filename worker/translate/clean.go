package translate

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spellcoven/gateway/event"
)

// roomName cleans a channel name into a valid contract room name: invalid UTF-8 and control
// characters become spaces, white space is trimmed, and the name is cut to event.MaxRoomName
// characters. A name with nothing left is replaced by the channel id, so the room stays visible.
func roomName(name, id string) string {
	name = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(name, " "))
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > event.MaxRoomName {
		name = strings.TrimSpace(string([]rune(name)[:event.MaxRoomName]))
	}
	if name == "" {
		return id
	}
	return name
}

// shortText makes s valid UTF-8 of at most event.MaxNameLength bytes, cutting at a character
// boundary.
func shortText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= event.MaxNameLength {
		return s
	}
	cut := event.MaxNameLength
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
