package discordtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// channelParams is a channel create or modify request. A field is non-nil only when the request
// carried its key; for nullable fields (parent_id, topic, rtc_region) null arrives as "".
type channelParams struct {
	name             *string
	typ              *ChannelType
	topic            *string
	bitrate          *int
	userLimit        *int
	parentID         *string
	position         *int
	nsfw             *bool
	rateLimitPerUser *int
	overwrites       *[]PermissionOverwrite
	rtcRegion        *string
	videoQualityMode *int
	// errs holds errors found while decoding (wrong JSON types), reported with the rest.
	errs formErrors
}

// parseChannelParams decodes a request body the way Discord does: invalid JSON is error 50109,
// fields of the wrong type are field errors of a 50035 answer, numeric strings count as numbers.
// Unknown keys are ignored.
func parseChannelParams(body []byte) (channelParams, *APIError) {
	p := channelParams{errs: formErrors{}}
	if !json.Valid(body) {
		return p, errInvalidJSON()
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		p.errs.add(nil, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
		return p, p.errs.apiError()
	}
	d := fieldDecoder{errs: p.errs}
	p.name = d.str(fields, "name", false)
	if t := d.integer(fields, "type"); t != nil {
		ct := ChannelType(*t)
		p.typ = &ct
	}
	p.topic = d.str(fields, "topic", true)
	p.bitrate = d.integer(fields, "bitrate")
	p.userLimit = d.integer(fields, "user_limit")
	p.parentID = d.snowflake(fields, "parent_id")
	p.position = d.integer(fields, "position")
	p.nsfw = d.boolean(fields, "nsfw")
	p.rateLimitPerUser = d.integer(fields, "rate_limit_per_user")
	p.rtcRegion = d.str(fields, "rtc_region", true)
	p.videoQualityMode = d.integer(fields, "video_quality_mode")
	p.overwrites = d.overwrites(fields, "permission_overwrites")
	return p, nil
}

// renames reports whether p changes the channel's name or topic, which Discord limits per channel.
func (p channelParams) renames(cur *Channel) bool {
	if p.name != nil {
		name := *p.name
		if cur.Type == ChannelTypeGuildText {
			name = textChannelName(name)
		}
		if name != cur.Name {
			return true
		}
	}
	return p.topic != nil && *p.topic != cur.Topic
}

// paramsFromChannel turns a channel description (seed or control API) into request parameters;
// zero fields count as absent.
func paramsFromChannel(c Channel) channelParams {
	p := channelParams{errs: formErrors{}}
	p.name = &c.Name
	p.typ = &c.Type
	if c.Topic != "" {
		p.topic = &c.Topic
	}
	if c.Bitrate != 0 {
		p.bitrate = &c.Bitrate
	}
	if c.UserLimit != 0 {
		p.userLimit = &c.UserLimit
	}
	if c.ParentID != "" {
		p.parentID = &c.ParentID
	}
	if c.Position != 0 {
		p.position = &c.Position
	}
	if c.NSFW {
		p.nsfw = &c.NSFW
	}
	if c.RateLimitPerUser != 0 {
		p.rateLimitPerUser = &c.RateLimitPerUser
	}
	if c.RTCRegion != "" {
		p.rtcRegion = &c.RTCRegion
	}
	if c.VideoQualityMode != 0 {
		p.videoQualityMode = &c.VideoQualityMode
	}
	if c.PermissionOverwrites != nil {
		p.overwrites = &c.PermissionOverwrites
	}
	return p
}

// validateChannel applies p to a copy of cur (or to a new channel when cur is nil) and checks the
// result against Discord's rules, returning every violation at once in a 50035 answer.
func (w *world) validateChannel(g *guild, cur *Channel, p channelParams) (*Channel, *APIError) {
	errs := p.errs
	if errs == nil {
		errs = formErrors{}
	}
	var ch Channel
	if cur != nil {
		ch = cloneChannel(cur)
	}

	if p.typ != nil {
		switch {
		case cur != nil && *p.typ != cur.Type:
			errs.add([]string{"type"}, "BASE_TYPE_CHOICES", fmt.Sprintf("Value must be one of {%d}.", cur.Type))
		case *p.typ != ChannelTypeGuildText && *p.typ != ChannelTypeGuildVoice && *p.typ != ChannelTypeGuildCategory:
			errs.add([]string{"type"}, "BASE_TYPE_CHOICES", "Value must be one of {0, 2, 4}.")
		default:
			ch.Type = *p.typ
		}
	}
	if cur == nil && p.name == nil {
		errs.add([]string{"name"}, "BASE_TYPE_REQUIRED", "This field is required")
	}
	if p.name != nil {
		if n := len([]rune(*p.name)); n < 1 || n > 100 {
			errs.add([]string{"name"}, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
		} else {
			ch.Name = *p.name
			if ch.Type == ChannelTypeGuildText {
				ch.Name = textChannelName(ch.Name)
			}
		}
	}
	if cur == nil {
		if ch.Type == ChannelTypeGuildVoice {
			ch.Bitrate = 64000
		}
		ch.Position = g.nextPosition(ch.Type)
	}
	if p.position != nil {
		ch.Position = *p.position
	}
	if p.nsfw != nil && ch.Type != ChannelTypeGuildCategory {
		ch.NSFW = *p.nsfw
	}

	switch ch.Type {
	case ChannelTypeGuildText:
		if p.topic != nil {
			if len([]rune(*p.topic)) > 1024 {
				errs.add([]string{"topic"}, "BASE_TYPE_MAX_LENGTH", "Must be 1024 or fewer in length.")
			} else {
				ch.Topic = *p.topic
			}
		}
		if p.rateLimitPerUser != nil {
			if checkRange(errs, "rate_limit_per_user", *p.rateLimitPerUser, 0, 21600) {
				ch.RateLimitPerUser = *p.rateLimitPerUser
			}
		}
	case ChannelTypeGuildVoice:
		if p.bitrate != nil {
			if checkRange(errs, "bitrate", *p.bitrate, 8000, g.maxBitrate) {
				ch.Bitrate = *p.bitrate
			}
		}
		if p.userLimit != nil {
			if checkRange(errs, "user_limit", *p.userLimit, 0, 99) {
				ch.UserLimit = *p.userLimit
			}
		}
		if p.rtcRegion != nil {
			ch.RTCRegion = *p.rtcRegion
		}
		if p.videoQualityMode != nil {
			if *p.videoQualityMode != 1 && *p.videoQualityMode != 2 {
				errs.add([]string{"video_quality_mode"}, "BASE_TYPE_CHOICES", "Value must be one of {1, 2}.")
			} else {
				ch.VideoQualityMode = *p.videoQualityMode
			}
		}
	}

	if p.parentID != nil {
		parent := *p.parentID
		switch {
		case parent == "":
			ch.ParentID = ""
		case ch.Type == ChannelTypeGuildCategory:
			errs.add([]string{"parent_id"}, "CHANNEL_PARENT_INVALID_TYPE", "Categories cannot have subcategories")
		default:
			pc, ok := g.channels[parent]
			if !ok || pc.Type != ChannelTypeGuildCategory {
				errs.add([]string{"parent_id"}, "CHANNEL_PARENT_INVALID", "Category does not exist")
			} else {
				ch.ParentID = parent
			}
		}
	}

	if p.overwrites != nil {
		list := *p.overwrites
		if len(list) > 100 {
			errs.add([]string{"permission_overwrites"}, "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
		}
		for i, o := range list {
			at := []string{"permission_overwrites", strconv.Itoa(i)}
			switch {
			case o.ID == "":
				// Already reported while decoding.
			case o.Type == OverwriteTypeRole && g.role(o.ID) == nil:
				errs.add(append(at, "id"), "UNKNOWN_ROLE", "Unknown Role")
			case o.Type == OverwriteTypeMember && !g.isMember(o.ID):
				errs.add(append(at, "id"), "UNKNOWN_MEMBER", "Unknown Member")
			}
		}
		ch.PermissionOverwrites = append([]PermissionOverwrite{}, list...)
	}

	if apiErr := errs.apiError(); apiErr != nil {
		return nil, apiErr
	}
	return &ch, nil
}

// checkRange records a NUMBER_TYPE_MIN or NUMBER_TYPE_MAX error and reports whether v is in range.
func checkRange(errs formErrors, field string, v, lo, hi int) bool {
	switch {
	case v < lo:
		errs.add([]string{field}, "NUMBER_TYPE_MIN", fmt.Sprintf("int value should be greater than or equal to %d.", lo))
	case v > hi:
		errs.add([]string{field}, "NUMBER_TYPE_MAX", fmt.Sprintf("int value should be less than or equal to %d.", hi))
	default:
		return true
	}
	return false
}

// textChannelName lower-cases a text channel's name and turns spaces into dashes, as Discord does.
func textChannelName(name string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return '-'
		}
		return unicode.ToLower(r)
	}, name)
}

// fieldDecoder decodes single fields of a JSON object, recording type errors instead of failing.
type fieldDecoder struct {
	errs formErrors
}

func (d fieldDecoder) str(fields map[string]json.RawMessage, key string, nullable bool) *string {
	raw, ok := fields[key]
	if !ok {
		return nil
	}
	if isNull(raw) {
		if nullable {
			s := ""
			return &s
		}
		d.errs.add([]string{key}, "BASE_TYPE_REQUIRED", "This field is required")
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		d.errs.add([]string{key}, "BASE_TYPE_STRING", fmt.Sprintf("Could not interpret %s as string.", raw))
		return nil
	}
	return &s
}

func (d fieldDecoder) integer(fields map[string]json.RawMessage, key string) *int {
	raw, ok := fields[key]
	if !ok || isNull(raw) {
		return nil
	}
	v, ok := coerceInt(raw)
	if !ok {
		d.errs.add([]string{key}, "NUMBER_TYPE_COERCE", fmt.Sprintf("Value %s is not int.", quoteRaw(raw)))
		return nil
	}
	return &v
}

func (d fieldDecoder) boolean(fields map[string]json.RawMessage, key string) *bool {
	raw, ok := fields[key]
	if !ok || isNull(raw) {
		return nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		d.errs.add([]string{key}, "BASE_TYPE_BOOLEAN", "Must be either true or false.")
		return nil
	}
	return &b
}

// snowflake decodes a nullable ID given as a string or a number; null arrives as "".
func (d fieldDecoder) snowflake(fields map[string]json.RawMessage, key string) *string {
	raw, ok := fields[key]
	if !ok {
		return nil
	}
	id, ok := decodeSnowflake(raw)
	if !ok {
		d.errs.add([]string{key}, "NUMBER_TYPE_COERCE", fmt.Sprintf("Value %s is not snowflake.", quoteRaw(raw)))
		return nil
	}
	return &id
}

func (d fieldDecoder) overwrites(fields map[string]json.RawMessage, key string) *[]PermissionOverwrite {
	raw, ok := fields[key]
	if !ok || isNull(raw) {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		d.errs.add([]string{key}, "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
		return nil
	}
	out := make([]PermissionOverwrite, 0, len(items))
	for i, item := range items {
		at := []string{key, strconv.Itoa(i)}
		var f map[string]json.RawMessage
		if err := json.Unmarshal(item, &f); err != nil || f == nil {
			d.errs.add(at, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
			continue
		}
		var o PermissionOverwrite
		if rawID, ok := f["id"]; !ok || isNull(rawID) {
			d.errs.add(append(at, "id"), "BASE_TYPE_REQUIRED", "This field is required")
		} else if id, ok := decodeSnowflake(rawID); !ok || id == "" {
			d.errs.add(append(at, "id"), "NUMBER_TYPE_COERCE", fmt.Sprintf("Value %s is not snowflake.", quoteRaw(rawID)))
		} else {
			o.ID = id
		}
		if rawType, ok := f["type"]; !ok || isNull(rawType) {
			d.errs.add(append(at, "type"), "BASE_TYPE_REQUIRED", "This field is required")
		} else if t, ok := coerceInt(rawType); !ok || (t != 0 && t != 1) {
			d.errs.add(append(at, "type"), "BASE_TYPE_CHOICES", "Value must be one of {0, 1}.")
		} else {
			o.Type = OverwriteType(t)
		}
		for _, pf := range []struct {
			name string
			dst  *Permissions
		}{{"allow", &o.Allow}, {"deny", &o.Deny}} {
			rawBits, ok := f[pf.name]
			if !ok || isNull(rawBits) {
				continue
			}
			if err := pf.dst.UnmarshalJSON(rawBits); err != nil {
				d.errs.add(append(at, pf.name), "NUMBER_TYPE_COERCE", fmt.Sprintf("Value %s is not int.", quoteRaw(rawBits)))
			}
		}
		out = append(out, o)
	}
	return &out
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// coerceInt reads an integral JSON number or a string holding one, as Discord's forms accept both.
func coerceInt(raw json.RawMessage) (int, bool) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		v, err := strconv.Atoi(n.String())
		return v, err == nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		return v, err == nil
	}
	return 0, false
}

// decodeSnowflake reads an ID given as a string or a number; null gives "".
func decodeSnowflake(raw json.RawMessage) (string, bool) {
	if isNull(raw) {
		return "", true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", false
		}
		s = n.String()
	}
	return s, isSnowflake(s)
}

// quoteRaw renders a raw JSON value the way Discord quotes it in messages: strings keep their quotes,
// other values are quoted.
func quoteRaw(raw json.RawMessage) string {
	s := string(bytes.TrimSpace(raw))
	if strings.HasPrefix(s, `"`) {
		return s
	}
	return `"` + s + `"`
}

// parseOverwrite decodes PUT /channels/{id}/permissions/{overwrite}: type (0 role, 1 member) is
// required, allow and deny default to none.
func parseOverwrite(overwriteID string, body []byte) (PermissionOverwrite, *APIError) {
	errs := formErrors{}
	o := PermissionOverwrite{ID: overwriteID}
	if !isSnowflake(overwriteID) {
		errs.add([]string{"overwrite_id"}, "NUMBER_TYPE_COERCE", fmt.Sprintf("Value %q is not snowflake.", overwriteID))
	}
	if !json.Valid(body) {
		return o, errInvalidJSON()
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		errs.add(nil, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
		return o, errs.apiError()
	}
	d := fieldDecoder{errs: errs}
	if t := d.integer(fields, "type"); t == nil {
		if _, given := fields["type"]; !given || isNull(fields["type"]) {
			errs.add([]string{"type"}, "BASE_TYPE_REQUIRED", "This field is required")
		}
	} else if *t != 0 && *t != 1 {
		errs.add([]string{"type"}, "BASE_TYPE_CHOICES", "Value must be one of {0, 1}.")
	} else {
		o.Type = OverwriteType(*t)
	}
	for _, pf := range []struct {
		name string
		dst  *Permissions
	}{{"allow", &o.Allow}, {"deny", &o.Deny}} {
		if raw, ok := fields[pf.name]; ok && !isNull(raw) {
			if err := pf.dst.UnmarshalJSON(raw); err != nil {
				errs.add([]string{pf.name}, "NUMBER_TYPE_COERCE", fmt.Sprintf("Value %s is not int.", quoteRaw(raw)))
			}
		}
	}
	return o, errs.apiError()
}

// positionChange is one item of PATCH /guilds/{id}/channels. Nil fields were absent.
type positionChange struct {
	id       string
	position *int
	// parentID is "" for null (move to the top level).
	parentID *string
}

// parsePositions decodes PATCH /guilds/{id}/channels: a JSON array of {id, position?, parent_id?,
// lock_permissions?}.
func parsePositions(body []byte) ([]positionChange, *APIError) {
	if !json.Valid(body) {
		return nil, errInvalidJSON()
	}
	errs := formErrors{}
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil || items == nil {
		errs.add(nil, "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
		return nil, errs.apiError()
	}
	out := make([]positionChange, 0, len(items))
	for i, item := range items {
		at := strconv.Itoa(i)
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(item, &fields); err != nil || fields == nil {
			errs.add([]string{at}, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
			continue
		}
		sub := formErrors{}
		d := fieldDecoder{errs: sub}
		var pc positionChange
		if id := d.snowflake(fields, "id"); id == nil || *id == "" {
			if _, given := fields["id"]; !given || isNull(fields["id"]) {
				sub.add([]string{"id"}, "BASE_TYPE_REQUIRED", "This field is required")
			}
		} else {
			pc.id = *id
		}
		pc.position = d.integer(fields, "position")
		pc.parentID = d.snowflake(fields, "parent_id")
		d.boolean(fields, "lock_permissions")
		if len(sub) > 0 {
			errs[at] = sub
		}
		out = append(out, pc)
	}
	return out, errs.apiError()
}
