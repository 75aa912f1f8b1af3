package host

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// requestInfo is what a lock request stores as its entry's value: enough
// for another process to decide grants and for an operator to see who
// holds what.
type requestInfo struct {
	Mode    string            `json:"mode"`
	PID     int               `json:"pid,omitempty"`
	Host    string            `json:"host,omitempty"`
	Created int64             `json:"created"` // unix nanoseconds
	Meta    map[string]string `json:"meta,omitempty"`
}

// request is one entry of a resource's queue, decoded.
type request struct {
	sdk.Entry
	info requestInfo
	mode Mode
}

func encodeRequest(info requestInfo) []byte {
	b, _ := json.Marshal(info) // a struct of strings and ints cannot fail
	return b
}

func decodeRequest(e sdk.Entry) (request, error) {
	r := request{Entry: e}
	if err := json.Unmarshal(e.Value, &r.info); err != nil {
		return r, fmt.Errorf("entry %s: value is not a lock request: %v", e.Key, err)
	}
	m, err := ParseMode(r.info.Mode)
	if err != nil {
		return r, fmt.Errorf("entry %s: %v", e.Key, err)
	}
	r.mode = m
	return r, nil
}

// Created is when the request was made.
func (r request) created() time.Time { return time.Unix(0, r.info.Created) }

// queue is a resource's requests in creation (FIFO) order.
type queue []request

// newQueue decodes entries; an entry that is not a lock request is treated
// as an exclusive request, so that foreign data can never let two
// incompatible holders in at once.
func newQueue(entries []sdk.Entry) queue {
	q := make(queue, 0, len(entries))
	for _, e := range entries {
		r, err := decodeRequest(e)
		if err != nil {
			r.mode = Exclusive
		}
		q = append(q, r)
	}
	sort.SliceStable(q, func(i, j int) bool { return q[i].CreateRev < q[j].CreateRev })
	return q
}

// index returns the position of key, or -1.
func (q queue) index(key string) int {
	for i, r := range q {
		if r.Key == key {
			return i
		}
	}
	return -1
}

// grantedAt reports whether the request at position i is granted: it is
// compatible with every request ahead of it, granted or waiting. So a
// reader behind a waiting writer waits: no writer starvation.
func (q queue) grantedAt(i int) bool {
	for j := 0; j < i; j++ {
		if !Compatible(q[j].mode, q[i].mode) {
			return false
		}
	}
	return true
}

// granted reports whether key is present and granted.
func (q queue) granted(key string) bool {
	i := q.index(key)
	return i >= 0 && q.grantedAt(i)
}

// apply updates the queue with a watch event.
func (q queue) apply(ev sdk.Event) queue {
	i := q.index(ev.Entry.Key)
	switch ev.Type {
	case sdk.EventDelete:
		if i >= 0 {
			q = append(q[:i:i], q[i+1:]...)
		}
	case sdk.EventPut:
		r, err := decodeRequest(ev.Entry)
		if err != nil {
			r.mode = Exclusive
		}
		if i >= 0 {
			q[i] = r
			return q
		}
		q = append(q, r)
		sort.SliceStable(q, func(a, b int) bool { return q[a].CreateRev < q[b].CreateRev })
	}
	return q
}
