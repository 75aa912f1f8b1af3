package host

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// requestInfo is what a lock request stores as its entry's value: enough
// for any process to decide grants and for an operator to see who holds
// what.
type requestInfo struct {
	// Mode is the mode held (granted) or wanted (waiting).
	Mode string `json:"mode"`
	// Pinned: the request holds Mode by right, wherever it stands in the
	// queue. A request is pinned by its first conversion; from then on
	// every other request must be compatible with it.
	Pinned bool `json:"pinned,omitempty"`
	// Target is the mode of a pending upgrade. Every request not in
	// Blockers must be compatible with it too: the upgrade goes before all
	// waiting requests.
	Target string `json:"target,omitempty"`
	// Blockers are the granted requests the pending upgrade waits for.
	Blockers []string `json:"blockers,omitempty"`
	// Limit makes the resource a semaphore for this request: it is granted
	// only while fewer than Limit requests are ahead of it.
	Limit int `json:"limit,omitempty"`

	PID     int               `json:"pid,omitempty"`
	Host    string            `json:"host,omitempty"`
	Created int64             `json:"created"` // unix nanoseconds
	Meta    map[string]string `json:"meta,omitempty"`
}

// request is one entry of a resource's queue, decoded.
type request struct {
	sdk.Entry
	info   requestInfo
	mode   Mode
	target Mode // 0 when no upgrade is pending
}

func encodeRequest(info requestInfo) []byte {
	b, _ := json.Marshal(info) // strings, ints and a map of strings cannot fail
	return b
}

// decodeRequest reads an entry. An entry that is not a lock request is
// read as a pinned exclusive request, so that foreign data can never let
// two incompatible holders in at once.
func decodeRequest(e sdk.Entry) request {
	r := request{Entry: e}
	if err := json.Unmarshal(e.Value, &r.info); err != nil {
		r.mode, r.info.Pinned = Exclusive, true
		return r
	}
	m, err := ParseMode(r.info.Mode)
	if err != nil {
		r.mode, r.info.Pinned = Exclusive, true
		return r
	}
	r.mode = m
	if r.info.Target != "" {
		if t, err := ParseMode(r.info.Target); err == nil {
			r.target = t
		} else {
			r.target = Exclusive
		}
	}
	return r
}

// created is when the request was made.
func (r request) created() time.Time { return time.Unix(0, r.info.Created) }

// waitsFor reports whether r's pending upgrade waits for key.
func (r request) waitsFor(key string) bool {
	if r.target == 0 {
		return false
	}
	for _, b := range r.info.Blockers {
		if b == key {
			return true
		}
	}
	return false
}

func (r request) String() string {
	s := fmt.Sprintf("%s %s #%d", r.Key, r.mode, r.CreateRev)
	if r.target != 0 {
		s += " ->" + r.target.String()
	}
	return s
}
