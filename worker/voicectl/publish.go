package voicectl

import (
	"context"
	"errors"
	"net/http"

	"github.com/bwmarrin/discordgo"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/relay"
	"github.com/spellcoven/gateway/worker/control"
)

// Published sources: a player publishes a camera from the page (WHIP) to the relay, which
// forwards it to the room's viewers. Publishing needs no bot in the call: the browser sends to
// the relay directly, and the viewers receive from it. The edge checks that the publisher is in
// the room's voice channel; the worker checks the room and its table view, and ends a
// publisher who leaves the channel, and every publisher of a room whose table view is turned
// off or which is deleted.

// PublishRequest, PublishAnswer, UnpublishRequest, SourcesRequest and SourcesAnswer are the
// publishing requests (package control's).
type (
	PublishRequest   = control.PublishRequest
	PublishAnswer    = control.PublishAnswer
	UnpublishRequest = control.UnpublishRequest
	SourcesRequest   = control.SourcesRequest
	SourcesAnswer    = control.SourcesAnswer
)

// Codes of the publishing failures.
const (
	CodeNoVideo           = control.CodeNoVideo
	CodeNoVP8             = control.CodeNoVP8
	CodeTooManyPublishers = control.CodeTooManyPublishers
	CodeNoSource          = control.CodeNoSource
)

// tableOn answers a request about roomID: nil when it is a room whose table view is on.
func (c *Controller) tableOn(roomID string) error {
	switch rm, ok, err := c.cfg.Rooms.LookupRoom(roomID); {
	case err != nil:
		return newError(http.StatusServiceUnavailable, CodeNotReady, "%v", err)
	case !ok:
		return newError(http.StatusNotFound, CodeNotARoom, "channel %s is not a room", roomID)
	case !rm.TableView:
		return newError(http.StatusForbidden, CodeTableViewOff, "the room's owner has not turned table view on")
	}
	return nil
}

func (c *Controller) tableRelay() (*relay.Relay, error) {
	if r := c.table.relay; r != nil {
		return r, nil
	}
	return nil, newError(http.StatusNotImplemented, CodeNotConfigured, "table view is not configured on this worker")
}

func snowflakes(fields ...[2]string) error {
	for _, f := range fields {
		if !event.ValidSnowflake(f[1]) {
			return badRequest("%s must be a Discord snowflake (decimal digits)", f[0])
		}
	}
	return nil
}

func kindError(kind string) error {
	if !relay.ValidKind(kind) {
		return badRequest("kind %q is not a source kind (%s)", kind, relay.SourceBoard)
	}
	return nil
}

// publishOfferError answers the relay's refusals of a WHIP offer, nil for the others.
func publishOfferError(err error) error {
	switch {
	case errors.Is(err, relay.ErrBadOffer):
		return newError(http.StatusBadRequest, CodeBadOffer, "%v", err)
	case errors.Is(err, relay.ErrNoVideo):
		return newError(http.StatusBadRequest, CodeNoVideo, "%v", err)
	case errors.Is(err, relay.ErrNoVP8):
		return newError(http.StatusBadRequest, CodeNoVP8, "%v", err)
	}
	return nil
}

// Publish starts a publishing session. A publisher of the same source is replaced.
func (c *Controller) Publish(ctx context.Context, req PublishRequest) (PublishAnswer, error) {
	p, err := c.publish(ctx, req)
	result := "ok"
	if e := (*Error)(nil); errors.As(err, &e) {
		result = e.Code
	} else if err != nil {
		result = CodeInternal
	}
	c.pubMetrics.publishes.WithLabelValues(result).Inc()
	return p, err
}

func (c *Controller) publish(ctx context.Context, req PublishRequest) (PublishAnswer, error) {
	r, err := c.tableRelay()
	if err != nil {
		return PublishAnswer{}, err
	}
	if err := snowflakes([2]string{"room_id", req.RoomID}, [2]string{"member_id", req.MemberID}); err != nil {
		return PublishAnswer{}, err
	}
	if err := kindError(req.Kind); err != nil {
		return PublishAnswer{}, err
	}
	if req.Offer == "" {
		return PublishAnswer{}, badRequest("offer (SDP) is required")
	}
	if err := publishOfferError(r.CheckPublishOffer(req.Offer)); err != nil {
		return PublishAnswer{}, err
	}
	if err := c.tableOn(req.RoomID); err != nil {
		return PublishAnswer{}, err
	}
	p, answer, err := r.Publish(ctx, req.RoomID, req.MemberID, req.Kind, req.Offer)
	if e := publishOfferError(err); e != nil {
		return PublishAnswer{}, e
	}
	switch {
	case errors.Is(err, relay.ErrPublisherLimit):
		return PublishAnswer{}, newError(http.StatusTooManyRequests, CodeTooManyPublishers, "%v", err)
	case errors.Is(err, relay.ErrClosed):
		return PublishAnswer{}, newError(http.StatusServiceUnavailable, CodeRelayFull, "%v", err)
	case err != nil:
		return PublishAnswer{}, err
	}
	c.log.Info("table: a board camera is published", "room_id", req.RoomID, "user_id", req.MemberID, "kind", req.Kind)
	return PublishAnswer{SessionID: p.ID, Answer: answer}, nil
}

// Unpublish ends a publishing session of req.MemberID.
func (c *Controller) Unpublish(req UnpublishRequest) error {
	r, err := c.tableRelay()
	if err != nil {
		return err
	}
	switch err := r.Unpublish(req.SessionID, req.MemberID); {
	case errors.Is(err, relay.ErrNoSession):
		return newError(http.StatusNotFound, CodeNoSession, "no publishing session %q", req.SessionID)
	case errors.Is(err, relay.ErrNotYours):
		return newError(http.StatusForbidden, CodeNotYours, "the session belongs to another publisher")
	default:
		return err
	}
}

// Sources lists a room's published sources.
func (c *Controller) Sources(req SourcesRequest) (SourcesAnswer, error) {
	r, err := c.tableRelay()
	if err != nil {
		return SourcesAnswer{}, err
	}
	if err := snowflakes([2]string{"room_id", req.RoomID}); err != nil {
		return SourcesAnswer{}, err
	}
	a := SourcesAnswer{Sources: []control.Source{}}
	for _, s := range r.Sources(req.RoomID) {
		a.Sources = append(a.Sources, control.Source{UserID: s.UserID, Kind: s.Kind})
	}
	return a, nil
}

// watchSource starts a viewing session of a published source. It needs no bot in the call.
func (c *Controller) watchSource(ctx context.Context, req WatchRequest) (WatchAnswer, error) {
	r, err := c.tableRelay()
	if err != nil {
		return WatchAnswer{}, err
	}
	if err := snowflakes([2]string{"room_id", req.RoomID}, [2]string{"member_id", req.MemberID}, [2]string{"viewer_id", req.ViewerID}); err != nil {
		return WatchAnswer{}, err
	}
	if err := kindError(req.Source); err != nil {
		return WatchAnswer{}, err
	}
	if req.Offer == "" {
		return WatchAnswer{}, badRequest("offer (SDP) is required")
	}
	if err := offerError(r.CheckOffer(req.Offer)); err != nil {
		return WatchAnswer{}, err
	}
	if err := c.tableOn(req.RoomID); err != nil {
		return WatchAnswer{}, err
	}
	s, answer, err := r.WatchSource(ctx, req.RoomID, req.MemberID, req.Source, req.ViewerID, req.Offer)
	if e := offerError(err); e != nil {
		return WatchAnswer{}, e
	}
	switch {
	case errors.Is(err, relay.ErrNoSource):
		return WatchAnswer{}, newError(http.StatusNotFound, CodeNoSource, "user %s publishes no %s camera in room %s", req.MemberID, req.Source, req.RoomID)
	case errors.Is(err, relay.ErrViewerLimit):
		return WatchAnswer{}, newError(http.StatusTooManyRequests, CodeTooManySessions, "%v", err)
	case errors.Is(err, relay.ErrFull), errors.Is(err, relay.ErrClosed):
		return WatchAnswer{}, newError(http.StatusServiceUnavailable, CodeRelayFull, "%v", err)
	case err != nil:
		return WatchAnswer{}, err
	}
	return WatchAnswer{SessionID: s.ID, Answer: answer}, nil
}

// publisherVoiceState ends the sources of a member who left a room's voice channel (or moved
// to another): only the room's members publish into it.
func (c *Controller) publisherVoiceState(vs *discordgo.VoiceState) {
	r := c.table.relay
	if r == nil || vs.GuildID != c.cfg.GuildID || vs.UserID == "" {
		return
	}
	for _, s := range r.Sources("") {
		if s.UserID == vs.UserID && s.RoomID != vs.ChannelID {
			c.endPublishersLater(s.RoomID, s.UserID, "the publisher left the room's voice channel")
		}
	}
}

// roomGone ends the publishers of a room whose table view was turned off, or which was deleted.
func (c *Controller) roomGone(roomID, reason string) {
	if c.table.relay != nil {
		c.endPublishersLater(roomID, "", reason)
	}
}

// endPublishersLater ends publishers off the gateway's goroutine (closing connections takes
// time).
func (c *Controller) endPublishersLater(roomID, userID, reason string) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if n := c.table.relay.EndPublishers(roomID, userID, reason); n > 0 {
			c.log.Info("table: published cameras ended", "room_id", roomID, "user_id", userID, "count", n, "reason", reason)
		}
	}()
}

// publishCollectors are the publishing metrics, coven_worker_table_*.
type publishCollectors struct {
	publishes *prometheus.CounterVec
}

// newPublishCollectors creates the publishing metrics, registered on reg when not nil.
func (c *Controller) newPublishCollectors(reg prometheus.Registerer) error {
	const ns, sub = "coven_worker", "table"
	c.pubMetrics.publishes = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "publishes_total",
		Help: "Table view: cameras published from the page (WHIP), by result: ok or the error code."}, []string{"result"})
	if reg == nil {
		return nil
	}
	for _, col := range []prometheus.Collector{
		c.pubMetrics.publishes,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "publishers",
			Help: "Table view: publishing sessions (cameras published from the page) at once."},
			func() float64 {
				if c.table.relay == nil {
					return 0
				}
				n, _ := c.table.relay.Publishers("")
				return float64(n)
			}),
	} {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}

func (h *Handler) publish(ctx context.Context, body []byte) (any, error) {
	var req PublishRequest
	if err := decode(body, &req, false); err != nil {
		return nil, err
	}
	return h.ctl.Publish(ctx, req)
}

func (h *Handler) unpublish(_ context.Context, body []byte) (any, error) {
	var req UnpublishRequest
	if err := decode(body, &req, false); err != nil {
		return nil, err
	}
	if err := h.ctl.Unpublish(req); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (h *Handler) sources(_ context.Context, body []byte) (any, error) {
	var req SourcesRequest
	if err := decode(body, &req, false); err != nil {
		return nil, err
	}
	return h.ctl.Sources(req)
}
