package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/worker/outbox"
)

// verdict is what one request to the edge came to.
type verdict int

const (
	// delivered: a 2xx; the batch is applied (or was already held).
	delivered verdict = iota
	// snapshotRequired: 409; the batch does not continue what the edge holds.
	snapshotRequired
	// rejected: 400, 413, 422; one of the events (or their size) is refused. Smaller batches may
	// pass; a single refused event is dead-lettered.
	rejected
	// unauthorized: 401 or 403 even with a fresh signature; the batch is dead-lettered.
	unauthorized
	// refused: any other 4xx that retrying cannot fix; the batch is dead-lettered.
	refused
	// retryLater: 5xx, 408, 425, 429 or no answer at all; retried after a backoff.
	retryLater
)

// answer is the edge's response to one request.
type answer struct {
	verdict verdict
	status  int // 0 when there was no HTTP answer
	// applied and skipped come from a 2xx body.
	applied, skipped int
	// code and message come from an error body {"error":{"code","message"}}.
	code, message string
	// expected is the 409 body's expected position, as text for logs.
	expected string
	// retryAfter is the edge's Retry-After, if any.
	retryAfter time.Duration
	err        error
}

// maxAnswerBytes bounds how much of an answer is read.
const maxAnswerBytes = 64 << 10

// encodeBatch builds a webhook body from records already encoded as events, without re-encoding them.
func encodeBatch(epoch string, recs []outbox.Record) []byte {
	size := 32 + len(epoch)
	for _, r := range recs {
		size += len(r.JSON) + 1
	}
	buf := make([]byte, 0, size)
	buf = append(buf, `{"epoch":`...)
	buf = strconv.AppendQuote(buf, epoch)
	buf = append(buf, `,"events":[`...)
	for i, r := range recs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, r.JSON...)
	}
	return append(buf, "]}"...)
}

// messageID names a batch for the Standard Webhooks scheme: stable across retries of the same batch.
func messageID(epoch string, recs []outbox.Record) string {
	id := strings.NewReplacer(".", "_").Replace(epoch)
	if len(recs) == 0 {
		return id + "-keepalive-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	}
	return fmt.Sprintf("%s-%d-%d", id, recs[0].Seq, recs[len(recs)-1].Seq)
}

// post sends one signed attempt. A 401 or 403 is tried once more at once with a fresh signature,
// since a signature can only have failed on the timestamp if the clocks disagree by a moment.
func (d *Deliverer) post(ctx context.Context, body []byte, msgID string) answer {
	a := d.postOnce(ctx, body, msgID)
	if a.verdict == unauthorized {
		a = d.postOnce(ctx, body, msgID)
	}
	return a
}

func (d *Deliverer) postOnce(ctx context.Context, body []byte, msgID string) answer {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return answer{verdict: retryLater, err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "coven-worker")
	if err := d.cfg.Signer.Sign(req.Header, body, time.Now(), msgID); err != nil {
		return answer{verdict: retryLater, err: err}
	}
	start := time.Now()
	resp, err := d.cfg.Client.Do(req)
	d.m.AttemptSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		return answer{verdict: retryLater, err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil && resp.StatusCode/100 == 2 {
		// The edge has applied the batch, or will answer the same again: retry.
		return answer{verdict: retryLater, status: resp.StatusCode, err: err}
	}
	return classify(resp.StatusCode, resp.Header, raw)
}

// classify reads an answer of the edge (docs/protocol.md, "Webhook: worker → edge").
func classify(status int, h http.Header, body []byte) answer {
	a := answer{status: status, retryAfter: retryAfter(h.Get("Retry-After"))}
	var result event.IngestResult
	var refusal event.ErrorAnswer
	if status/100 == 2 {
		_ = json.Unmarshal(body, &result)
	} else {
		_ = json.Unmarshal(body, &refusal)
	}
	a.code, a.message = refusal.Error.Code, refusal.Error.Message
	if refusal.Expected != nil {
		a.expected = refusal.Expected.String()
	}
	switch {
	case status/100 == 2:
		a.verdict, a.applied, a.skipped = delivered, result.Applied, result.Skipped
	case status == http.StatusConflict:
		a.verdict = snapshotRequired
	case status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge || status == http.StatusUnprocessableEntity:
		a.verdict = rejected
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		a.verdict = unauthorized
	case status == http.StatusRequestTimeout || status == http.StatusTooEarly || status == http.StatusTooManyRequests || status/100 == 5:
		a.verdict = retryLater
	default:
		a.verdict = refused
	}
	if a.verdict != delivered && a.code == "" && a.message == "" && len(body) > 0 {
		// Not the edge's JSON (a proxy's page, say): keep the start of it for the logs.
		a.message = strings.TrimSpace(string(body[:min(len(body), 200)]))
	}
	return a
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
