package discordrest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Channel types used by the rooms API.
const (
	ChannelTypeGuildVoice    = 2
	ChannelTypeGuildCategory = 4
)

// Overwrite types: a permission overwrite targets a role or a member.
const (
	OverwriteRole   = 0
	OverwriteMember = 1
)

// Permissions is a permission bit set, a decimal string on the wire (a number is accepted too).
type Permissions uint64

// MarshalJSON writes the bit set as a decimal string, as Discord expects.
func (p Permissions) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatUint(uint64(p), 10) + `"`), nil
}

// UnmarshalJSON reads a decimal string or number.
func (p *Permissions) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("permissions %q: not a decimal bit set", b)
	}
	*p = Permissions(v)
	return nil
}

// Overwrite grants (Allow) or denies (Deny) permissions on a channel to a role or member.
type Overwrite struct {
	ID    string      `json:"id"`
	Type  int         `json:"type"`
	Allow Permissions `json:"allow"`
	Deny  Permissions `json:"deny"`
}

// Channel is the part of a Discord channel object the rooms API reads.
type Channel struct {
	ID       string `json:"id"`
	GuildID  string `json:"guild_id"`
	Type     int    `json:"type"`
	Name     string `json:"name"`
	Position int    `json:"position"`
	// ParentID is the category holding the channel; "" for none (null on the wire).
	ParentID             string      `json:"parent_id"`
	UserLimit            int         `json:"user_limit"`
	PermissionOverwrites []Overwrite `json:"permission_overwrites"`
}

// CreateChannel is the body of a channel creation.
type CreateChannel struct {
	Name                 string      `json:"name"`
	Type                 int         `json:"type"`
	ParentID             string      `json:"parent_id,omitempty"`
	UserLimit            int         `json:"user_limit"`
	PermissionOverwrites []Overwrite `json:"permission_overwrites,omitempty"`
}

// Route names, as in Discord's documentation and in the metrics.
const (
	RouteCreateChannel   = "POST /guilds/{guild.id}/channels"
	RouteGetChannel      = "GET /channels/{channel.id}"
	RouteDeleteChannel   = "DELETE /channels/{channel.id}"
	RouteEditOverwrite   = "PUT /channels/{channel.id}/permissions/{overwrite.id}"
	RouteDeleteOverwrite = "DELETE /channels/{channel.id}/permissions/{overwrite.id}"
	RouteCurrentUser     = "GET /users/@me"
)

// CreateChannel creates a channel in a guild (POST /guilds/{id}/channels). auditReason, if not empty,
// is recorded in the guild's audit log.
func (c *Client) CreateChannel(ctx context.Context, guildID string, p CreateChannel, auditReason string) (*Channel, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	var ch Channel
	err = c.do(ctx, request{
		method: http.MethodPost, route: RouteCreateChannel, major: guildID,
		path: "/guilds/" + url.PathEscape(guildID) + "/channels", body: body, auditReason: auditReason,
	}, &ch)
	if err != nil {
		return nil, err
	}
	return &ch, nil
}

// GetChannel reads a channel (GET /channels/{id}).
func (c *Client) GetChannel(ctx context.Context, channelID string) (*Channel, error) {
	var ch Channel
	err := c.do(ctx, request{
		method: http.MethodGet, route: RouteGetChannel, major: channelID,
		path: "/channels/" + url.PathEscape(channelID),
	}, &ch)
	if err != nil {
		return nil, err
	}
	return &ch, nil
}

// DeleteChannel deletes a channel (DELETE /channels/{id}). auditReason, if not empty, is recorded in
// the guild's audit log.
func (c *Client) DeleteChannel(ctx context.Context, channelID, auditReason string) error {
	return c.do(ctx, request{
		method: http.MethodDelete, route: RouteDeleteChannel, major: channelID,
		path: "/channels/" + url.PathEscape(channelID), auditReason: auditReason,
	}, nil)
}

// EditOverwrite sets a channel's permission overwrite for o.ID (PUT
// /channels/{id}/permissions/{overwrite.id}), creating or replacing it.
func (c *Client) EditOverwrite(ctx context.Context, channelID string, o Overwrite, auditReason string) error {
	body, err := json.Marshal(struct {
		Type  int         `json:"type"`
		Allow Permissions `json:"allow"`
		Deny  Permissions `json:"deny"`
	}{o.Type, o.Allow, o.Deny})
	if err != nil {
		return err
	}
	return c.do(ctx, request{
		method: http.MethodPut, route: RouteEditOverwrite, major: channelID,
		path: "/channels/" + url.PathEscape(channelID) + "/permissions/" + url.PathEscape(o.ID),
		body: body, auditReason: auditReason,
	}, nil)
}

// DeleteOverwrite removes a channel's permission overwrite for overwriteID (DELETE
// /channels/{id}/permissions/{overwrite.id}).
func (c *Client) DeleteOverwrite(ctx context.Context, channelID, overwriteID, auditReason string) error {
	return c.do(ctx, request{
		method: http.MethodDelete, route: RouteDeleteOverwrite, major: channelID,
		path:        "/channels/" + url.PathEscape(channelID) + "/permissions/" + url.PathEscape(overwriteID),
		auditReason: auditReason,
	}, nil)
}

// User is a Discord user, as far as the rooms API reads one.
type User struct {
	ID string `json:"id"`
}

// CurrentUser reads the bot's own user (GET /users/@me).
func (c *Client) CurrentUser(ctx context.Context) (*User, error) {
	var u User
	if err := c.do(ctx, request{method: http.MethodGet, route: RouteCurrentUser, path: "/users/@me"}, &u); err != nil {
		return nil, err
	}
	return &u, nil
}
