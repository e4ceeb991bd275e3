package event

// The edge's answers to a webhook delivery (docs/protocol.md, "Webhook: worker → edge"), beside the
// batch they answer: the edge writes them (package ingest) and the worker reads them.

// IngestResult is the 200 answer: the events applied, and those the edge held already (a replay).
type IngestResult struct {
	Applied int `json:"applied"`
	Skipped int `json:"skipped"`
}

// ErrorAnswer is the body of every refusal. Expected is set with AnswerSnapshotRequired: the
// position the edge expects next (a batch starting there would continue what it holds).
type ErrorAnswer struct {
	Error    ErrorDetail `json:"error"`
	Expected *Position   `json:"expected,omitempty"`
}

// ErrorDetail says why: Code is stable, for programs; Message is for people.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Codes of ErrorDetail.Code in answers to a webhook delivery.
const (
	AnswerBadSignature     = "bad_signature"      // 401: missing, malformed, stale or wrong signature
	AnswerTooLarge         = "too_large"          // 413: over the body limit
	AnswerReadFailed       = "read_failed"        // 400: the body could not be read
	AnswerInvalidBatch     = "invalid_batch"      // 400: not a valid batch of contract v1
	AnswerSnapshotRequired = "snapshot_required"  // 409: the batch does not continue what the edge holds
	AnswerUnavailable      = "unavailable"        // 503 + Retry-After: the broker or the hub cannot take it now
	AnswerMethodNotAllowed = "method_not_allowed" // 405: not a POST
	AnswerInProgress       = "in_progress"        // 409 + Retry-After: the same webhook-id is being handled
)
