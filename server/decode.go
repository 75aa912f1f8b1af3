package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/locksmithx/locksmith/host"
)

// Bounds of an acquire request's metadata.
const (
	maxMetaKeys  = 64
	maxMetaKey   = 128
	maxMetaValue = 4096
)

// acquireRequest is the body of POST /api/v1/leases.
type acquireRequest struct {
	// Resource is a lock name, or an absolute file path.
	Resource string `json:"resource"`
	// Kind is "named" or "file"; by default a resource starting with "/"
	// is a file, anything else a name.
	Kind string `json:"kind,omitempty"`
	// Mode is shared, exclusive (the default), read, write or update.
	Mode string `json:"mode,omitempty"`
	// Wait is how long to wait for the lock; 0 (the default) does not
	// wait.
	Wait *duration `json:"wait,omitempty"`
	// Limit makes a semaphore of at most Limit shared holders.
	Limit int `json:"limit,omitempty"`
	// TTL is how long the lease lives without a renewal (the server's
	// lease_ttl by default).
	TTL      *duration         `json:"ttl,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// convertRequest is the body of POST /api/v1/leases/{id}/convert.
type convertRequest struct {
	Mode string    `json:"mode"`
	Wait *duration `json:"wait,omitempty"`
}

// acquireSpec is a validated acquire request.
type acquireSpec struct {
	resource string
	mode     host.Mode
	wait     time.Duration
	limit    int
	ttl      time.Duration
	meta     map[string]string
}

// badRequest is a request the server refuses as written: the body or one
// of its fields. It answers 400 with its code.
type badRequest struct {
	code string
	msg  string
}

func (e *badRequest) Error() string { return e.msg }

func malformed(format string, args ...any) error {
	return &badRequest{code: codeMalformed, msg: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) error {
	return &badRequest{code: codeInvalidArgument, msg: fmt.Sprintf(format, args...)}
}

// decodeStrict decodes exactly one JSON object into v, refusing unknown
// fields and trailing data.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return malformed("the body is empty; send a JSON object")
		}
		return malformed("the body is not the JSON this route takes: %v", err)
	}
	if dec.More() {
		return malformed("the body has data after its JSON object")
	}
	return nil
}

// parseAcquire decodes and checks an acquire body against the server's
// bounds.
func parseAcquire(body []byte, maxWait, defTTL time.Duration) (acquireSpec, error) {
	var req acquireRequest
	if err := decodeStrict(body, &req); err != nil {
		return acquireSpec{}, err
	}
	var sp acquireSpec
	var err error
	if sp.resource, err = resourceKey(req.Resource, req.Kind); err != nil {
		return acquireSpec{}, err
	}
	sp.mode = host.Exclusive
	if req.Mode != "" {
		if sp.mode, err = host.ParseMode(req.Mode); err != nil {
			return acquireSpec{}, invalid("mode: %v", err)
		}
	}
	if req.Wait != nil {
		sp.wait = time.Duration(*req.Wait)
	}
	if sp.wait < 0 || sp.wait > maxWait {
		return acquireSpec{}, invalid("wait: %s is outside 0..%s (the server's max_wait)", sp.wait, maxWait)
	}
	if req.Limit < 0 {
		return acquireSpec{}, invalid("limit: %d is negative", req.Limit)
	}
	if req.Limit > 0 && req.Mode == "" {
		sp.mode = host.Shared
	}
	if req.Limit > 0 && sp.mode != host.Shared {
		return acquireSpec{}, invalid("limit: a semaphore holds shared locks, not %s", sp.mode)
	}
	sp.limit = req.Limit
	sp.ttl = defTTL
	if req.TTL != nil {
		sp.ttl = time.Duration(*req.TTL)
	}
	if sp.ttl < time.Second || sp.ttl > 24*time.Hour {
		return acquireSpec{}, invalid("ttl: %s is outside 1s..24h", sp.ttl)
	}
	if len(req.Metadata) > maxMetaKeys {
		return acquireSpec{}, invalid("metadata: %d keys, at most %d", len(req.Metadata), maxMetaKeys)
	}
	for k, v := range req.Metadata {
		if k == "" || len(k) > maxMetaKey || len(v) > maxMetaValue || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return acquireSpec{}, invalid("metadata: key %.40q: keys are 1..%d bytes, values at most %d, both UTF-8", k, maxMetaKey, maxMetaValue)
		}
	}
	sp.meta = req.Metadata
	return sp, nil
}

// parseConvert decodes and checks a convert body.
func parseConvert(body []byte, maxWait time.Duration) (host.Mode, time.Duration, error) {
	var req convertRequest
	if err := decodeStrict(body, &req); err != nil {
		return 0, 0, err
	}
	if req.Mode == "" {
		return 0, 0, invalid("mode: required")
	}
	m, err := host.ParseMode(req.Mode)
	if err != nil {
		return 0, 0, invalid("mode: %v", err)
	}
	var wait time.Duration
	if req.Wait != nil {
		wait = time.Duration(*req.Wait)
	}
	if wait < 0 || wait > maxWait {
		return 0, 0, invalid("wait: %s is outside 0..%s (the server's max_wait)", wait, maxWait)
	}
	return m, wait, nil
}

// resourceKey normalises a resource named in a request: kind "file" or
// "named", or by default a file when it starts with "/".
func resourceKey(resource, kind string) (string, error) {
	if kind == "" {
		kind = "named"
		if strings.HasPrefix(resource, "/") {
			kind = "file"
		}
	}
	var (
		key string
		err error
	)
	switch kind {
	case "file":
		if !strings.HasPrefix(resource, "/") {
			return "", invalid("resource: a file lock over HTTP needs an absolute path, got %.80q", resource)
		}
		key, err = host.FileResource(resource)
	case "named":
		key, err = host.NamedResource(resource)
	default:
		return "", invalid("kind: %.40q is not file or named", kind)
	}
	if err != nil {
		return "", invalid("resource: %s", strings.TrimPrefix(err.Error(), "locksmith: "))
	}
	return key, nil
}

// readBody reads a JSON request body within the server's size limit.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, &badRequest{code: codeUnsupportedMedia, msg: fmt.Sprintf("content type %.60q: send application/json", ct)}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &badRequest{code: codeTooLarge, msg: fmt.Sprintf("the body is over %d bytes", limit)}
		}
		return nil, malformed("read body: %v", err)
	}
	return body, nil
}
