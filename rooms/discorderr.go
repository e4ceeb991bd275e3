package rooms

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/spellcoven/gateway/rooms/discordrest"
)

// defaultRetryAfter is the Retry-After of answers about a Discord failure that gave no better time.
const defaultRetryAfter = 5 * time.Second

// ownerRefused returns the answer for a creation that Discord refused because the owner's overwrite
// names someone who is not a member of the guild (the overwrite at index i), or nil for other errors.
func ownerRefused(err error, i int) *Error {
	var e *discordrest.Error
	if errors.As(err, &e) && e.Kind == discordrest.KindInvalid &&
		slices.Contains(e.Fields, "permission_overwrites."+strconv.Itoa(i)+".id") {
		return &Error{Status: http.StatusForbidden, Code: "not_a_member",
			Message: "your Discord account is not a member of the Discord server; join it first"}
	}
	return nil
}

// discordFailure turns a failed Discord call into the answer to the person waiting, and logs it. what
// says what was being done. Messages tell what happened without Discord's internals.
func (s *Service) discordFailure(what string, err error) *Error {
	var notCategory *errNotACategory
	if errors.As(err, &notCategory) {
		s.logger.Error("rooms API misconfigured: "+what, zap.Error(err))
		return &Error{Status: http.StatusBadGateway, Code: "misconfigured",
			Message: "the rooms category is misconfigured on this server"}
	}
	var e *discordrest.Error
	if !errors.As(err, &e) {
		s.logger.Error(what+" failed", zap.Error(err))
		return &Error{Status: http.StatusBadGateway, Code: "discord_error", Message: "Discord could not " + what}
	}
	retry := e.RetryAfter
	if retry <= 0 {
		retry = defaultRetryAfter
	}
	log := s.logger.Warn
	var out *Error
	switch e.Kind {
	case discordrest.KindRateLimited:
		out = &Error{Status: http.StatusServiceUnavailable, Code: "discord_rate_limited",
			Message: "Discord's rate limits do not allow " + what + " right now; retry later", RetryAfter: retry}
	case discordrest.KindTimeout:
		out = &Error{Status: http.StatusServiceUnavailable, Code: "discord_timeout",
			Message: "Discord did not answer in time while " + what + "; retry later", RetryAfter: retry}
	case discordrest.KindUnavailable:
		out = &Error{Status: http.StatusServiceUnavailable, Code: "discord_unavailable",
			Message: "Discord cannot be reached right now; retry later", RetryAfter: retry}
	case discordrest.KindUnauthorized:
		log = s.logger.Error
		out = &Error{Status: http.StatusServiceUnavailable, Code: "discord_unavailable",
			Message: "Discord rejected this server's bot credentials; retry later", RetryAfter: retry}
	case discordrest.KindServerError:
		out = &Error{Status: http.StatusBadGateway, Code: "discord_error",
			Message: "Discord failed while " + what + "; retry later"}
	case discordrest.KindForbidden:
		log = s.logger.Error
		out = &Error{Status: http.StatusBadGateway, Code: "discord_forbidden",
			Message: "the bot lacks a Discord permission needed for " + what}
	case discordrest.KindInvalid:
		if e.Code == discordrest.CodeMaxChannels {
			out = &Error{Status: http.StatusConflict, Code: "server_full",
				Message: "the Discord server has reached its channel limit"}
			break
		}
		if slices.Contains(e.Fields, "name") {
			out = &Error{Status: http.StatusUnprocessableEntity, Code: "name_refused", Message: "name: refused by Discord"}
			break
		}
		log = s.logger.Error
		out = &Error{Status: http.StatusBadGateway, Code: "discord_rejected", Message: "Discord refused " + what}
	case discordrest.KindNotFound:
		log = s.logger.Error
		out = &Error{Status: http.StatusBadGateway, Code: "misconfigured",
			Message: "the Discord server of this edge does not exist or the bot is not in it"}
	default:
		out = &Error{Status: http.StatusBadGateway, Code: "discord_error", Message: "Discord could not " + what}
	}
	log(what+" failed", zap.Error(err), zap.String("answer", out.Code))
	return out
}
