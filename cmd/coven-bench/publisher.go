package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spellcoven/gateway/internal/edgeproc"
	"github.com/spellcoven/gateway/webhook"
)

// publisher posts signed batches to the edge's ingest, one at a time: the edge admits a batch only if
// it continues the last one, so batches of one epoch cannot be in flight together.
type publisher struct {
	url    string
	http   *http.Client
	signer *webhook.Signer
	enc    *batchEncoder
	clock  *clock
	body   []byte // reused for every batch
	last   uint64 // seq of the last event accepted

	batches int
	rtt     histogram // round trip of each measured batch
}

func newPublisher(url string, payloadBytes int, clk *clock) (*publisher, error) {
	enc, err := newBatchEncoder(payloadBytes)
	if err != nil {
		return nil, err
	}
	signer, err := webhook.NewSigner(webhook.SchemeCoven, edgeproc.WebhookSecret)
	if err != nil {
		return nil, err
	}
	return &publisher{
		url:    url,
		http:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 30 * time.Second},
		signer: signer,
		enc:    enc,
		clock:  clk,
	}, nil
}

// close releases the publisher's keep-alive connection.
func (p *publisher) close() { p.http.CloseIdleConnections() }

// snapshot posts the snapshot that starts the epoch (seq 1).
func (p *publisher) snapshot(ctx context.Context) error {
	body, err := snapshotBody(len(p.enc.payloads[0]), time.Now())
	if err != nil {
		return err
	}
	if err := p.post(ctx, body, 1); err != nil {
		return fmt.Errorf("posting the snapshot: %w", err)
	}
	p.last = 1
	return nil
}

// next posts the next n events, storing their send time in times if it is not nil.
func (p *publisher) next(ctx context.Context, n int, times *eventTimes) error {
	first := p.last + 1
	p.body = p.enc.appendBatch(p.body[:0], first, n, time.Now())
	start := p.clock.now()
	if times != nil {
		for seq := first; seq < first+uint64(n); seq++ {
			times.posted(seq, start)
		}
	}
	if err := p.post(ctx, p.body, n); err != nil {
		return fmt.Errorf("posting events %d-%d: %w", first, first+uint64(n)-1, err)
	}
	p.rtt.record(p.clock.now() - start)
	p.batches++
	p.last += uint64(n)
	return nil
}

// post sends one signed body and checks that the edge applied all n events.
func (p *publisher) post(ctx context.Context, body []byte, n int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := p.signer.Sign(req.Header, body, time.Now(), ""); err != nil {
		return err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the edge answered %s: %s", resp.Status, bytes.TrimSpace(answer))
	}
	var counts struct {
		Applied int `json:"applied"`
		Skipped int `json:"skipped"`
	}
	if err := json.Unmarshal(answer, &counts); err != nil {
		return fmt.Errorf("reading the edge's answer %q: %w", answer, err)
	}
	if counts.Applied != n || counts.Skipped != 0 {
		return fmt.Errorf("the edge applied %d and skipped %d of %d new events", counts.Applied, counts.Skipped, n)
	}
	return nil
}
