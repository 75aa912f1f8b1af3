package file

import (
	"encoding/binary"
	"errors"
	"slices"

	"github.com/locksmithx/locksmith/sdk"
)

// History bounds: a state keeps at most historyEvents events and at most
// historyBytes of encoded events, whichever is reached first. Watch from a
// revision older than the history gives sdk.ErrCompacted.
const (
	historyEvents = 256
	historyBytes  = 16 << 10
)

// state is the whole stored state of one resource: what a state slot holds.
type state struct {
	// boot is the boot the state was written in (set when it is written).
	boot bootID
	// rev is the resource's current revision: the last one handed out.
	rev int64
	// compact is the oldest revision Watch can deliver: history holds every
	// event with a revision in [compact, rev].
	compact int64
	// resource is the resource's name, kept so a state file names itself.
	resource string
	// sessionDir is the session directory the owners of entries live in;
	// every process sharing the resource must use the same one.
	sessionDir string
	// entries are the live entries in creation order.
	entries []sdk.Entry
	// histEnc is the encoding of the latest events, oldest first: a
	// commit writes it as is, and only a watch that replays history
	// decodes events from it (eventsFrom). histRevs and histLens are each
	// event's revision and the length of its encoding.
	histEnc  []byte
	histRevs []int64
	histLens []int
	// touched are the keys of the events recorded since the last commit:
	// whose watchers that commit wakes (see stateFile.commit).
	touched []string
}

func newState(resource, sessionDir string, rev int64) *state {
	return &state{rev: rev, compact: rev + 1, resource: resource, sessionDir: sessionDir}
}

func (st *state) find(key string) int {
	for i := range st.entries {
		if st.entries[i].Key == key {
			return i
		}
	}
	return -1
}

// record appends ev to the history, dropping the oldest events past the
// bounds.
func (st *state) record(ev sdk.Event) {
	if !slices.Contains(st.touched, ev.Entry.Key) {
		st.touched = append(st.touched, ev.Entry.Key)
	}
	n := len(st.histEnc)
	st.histEnc = appendEvent(st.histEnc, ev)
	st.histRevs = append(st.histRevs, ev.Rev)
	st.histLens = append(st.histLens, len(st.histEnc)-n)
	drop, size := 0, 0
	for len(st.histRevs)-drop > historyEvents || (len(st.histEnc)-size > historyBytes && len(st.histRevs)-drop > 1) {
		size += st.histLens[drop]
		drop++
	}
	if drop > 0 {
		st.histRevs = slices.Delete(st.histRevs, 0, drop)
		st.histLens = slices.Delete(st.histLens, 0, drop)
		st.histEnc = st.histEnc[size:]
	}
	if len(st.histRevs) > 0 {
		st.compact = st.histRevs[0]
	} else {
		st.compact = st.rev + 1
	}
}

// put creates or replaces an entry at a new revision.
func (st *state) put(key, session string, value []byte) sdk.Entry {
	st.rev++
	i := st.find(key)
	var e sdk.Entry
	if i < 0 {
		e = sdk.Entry{Key: key, Value: value, Session: session, CreateRev: st.rev, ModRev: st.rev}
		st.entries = append(st.entries, e)
	} else {
		e = st.entries[i]
		e.Value, e.Session, e.ModRev = value, session, st.rev
		st.entries[i] = e
	}
	st.record(sdk.Event{Type: sdk.EventPut, Entry: e, Rev: st.rev})
	return e
}

// update replaces the value of entry i at a new revision.
func (st *state) update(i int, value []byte) sdk.Entry {
	st.rev++
	e := st.entries[i]
	e.Value, e.ModRev = value, st.rev
	st.entries[i] = e
	st.record(sdk.Event{Type: sdk.EventPut, Entry: e, Rev: st.rev})
	return e
}

// remove deletes entry i at a new revision.
func (st *state) remove(i int) {
	st.rev++
	e := st.entries[i]
	st.entries = slices.Delete(st.entries, i, i+1)
	e.Value = nil
	st.record(sdk.Event{Type: sdk.EventDelete, Entry: e, Rev: st.rev})
}

// removeIf deletes every entry whose session matches, each at its own
// revision, and reports how many it removed.
func (st *state) removeIf(match func(session string) bool) int {
	n := 0
	for i := 0; i < len(st.entries); {
		if match(st.entries[i].Session) {
			st.remove(i)
			n++
			continue
		}
		i++
	}
	return n
}

// sessionsOf returns the distinct sessions of the entries with the given
// keys, in queue order.
func (st *state) sessionsOf(keys []string) []string {
	var out []string
	for _, e := range st.entries {
		if slices.Contains(keys, e.Key) && !slices.Contains(out, e.Session) {
			out = append(out, e.Session)
		}
	}
	return out
}

// sessions returns the distinct sessions of the entries.
func (st *state) sessions() []string {
	var out []string
	if len(st.entries) <= 16 {
		for _, e := range st.entries {
			if !slices.Contains(out, e.Session) {
				out = append(out, e.Session)
			}
		}
		return out
	}
	// A long queue: a search of out per entry would be quadratic.
	seen := make(map[string]struct{}, len(st.entries))
	for _, e := range st.entries {
		if _, ok := seen[e.Session]; !ok {
			seen[e.Session] = struct{}{}
			out = append(out, e.Session)
		}
	}
	return out
}

// cloneEntries returns a copy of the entries safe to hand to a caller.
func (st *state) cloneEntries() []sdk.Entry {
	out := make([]sdk.Entry, len(st.entries))
	for i, e := range st.entries {
		e.Value = slices.Clone(e.Value)
		out[i] = e
	}
	return out
}

// eventsFrom decodes the history events with Rev >= from (copies the
// caller may keep). The encoding was checked when it was read or made, so
// an error means memory went bad under it.
func (st *state) eventsFrom(from int64) ([]sdk.Event, error) {
	i, _ := slices.BinarySearch(st.histRevs, from)
	off := 0
	for _, n := range st.histLens[:i] {
		off += n
	}
	d := &decoder{b: st.histEnc[off:]}
	out := make([]sdk.Event, 0, len(st.histRevs)-i)
	for range len(st.histRevs) - i {
		ev := sdk.Event{Type: sdk.EventType(d.byte()), Rev: d.int()}
		ev.Entry = d.entry()
		out = append(out, ev)
	}
	if d.err != nil {
		return nil, errPayload
	}
	return out, nil
}

// The payload of a state slot:
//
//	version u8, boot [16], rev uvarint, compact uvarint, resource str, sessionDir str,
//	entry count uvarint, entries, event count uvarint, events
//
// where an entry is key str, session str, value str, createRev uvarint,
// modRev uvarint; an event is type u8, rev uvarint and an entry; and str is
// a uvarint length followed by the bytes.

// appendPayload appends the encoding of st to b.
func (st *state) appendPayload(b []byte) []byte {
	b = append(b, payloadVersion)
	b = append(b, st.boot[:]...)
	b = binary.AppendUvarint(b, uint64(st.rev))
	b = binary.AppendUvarint(b, uint64(st.compact))
	b = appendString(b, st.resource)
	b = appendString(b, st.sessionDir)
	b = binary.AppendUvarint(b, uint64(len(st.entries)))
	for _, e := range st.entries {
		b = appendEntry(b, e)
	}
	b = binary.AppendUvarint(b, uint64(len(st.histRevs)))
	return append(b, st.histEnc...)
}

// clearHistory forgets every event.
func (st *state) clearHistory() {
	st.histRevs, st.histEnc, st.histLens = nil, nil, nil
}

func appendEvent(b []byte, ev sdk.Event) []byte {
	b = append(b, byte(ev.Type))
	b = binary.AppendUvarint(b, uint64(ev.Rev))
	return appendEntry(b, ev.Entry)
}

func appendEntry(b []byte, e sdk.Entry) []byte {
	b = appendString(b, e.Key)
	b = appendString(b, e.Session)
	b = binary.AppendUvarint(b, uint64(len(e.Value)))
	b = append(b, e.Value...)
	b = binary.AppendUvarint(b, uint64(e.CreateRev))
	return binary.AppendUvarint(b, uint64(e.ModRev))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errPayload = errors.New("malformed state payload")

// decoder reads a payload; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errPayload
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int64 {
	v := d.uvarint()
	if v > 1<<62 {
		d.err = errPayload
	}
	return int64(v)
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errPayload
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errPayload
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) entry() sdk.Entry {
	e := sdk.Entry{Key: string(d.bytes()), Session: string(d.bytes())}
	if v := d.bytes(); len(v) > 0 {
		e.Value = slices.Clone(v)
	}
	e.CreateRev, e.ModRev = d.int(), d.int()
	return e
}

// skipEntry passes over an entry, checking its form, without copying it.
func (d *decoder) skipEntry() {
	d.bytes()
	d.bytes()
	d.bytes()
	d.int()
	d.int()
}

// count reads an element count, bounded by what the rest could hold.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err = errPayload
		return 0
	}
	return int(n)
}

// decodePayload decodes a state slot's payload.
func decodePayload(p []byte) (*state, error) {
	d := &decoder{b: p}
	st := &state{}
	switch d.byte() {
	case 1: // format 1: no boot id
	case payloadVersion:
		if len(d.b) < len(st.boot) {
			return nil, errPayload
		}
		copy(st.boot[:], d.b)
		d.b = d.b[len(st.boot):]
	default:
		return nil, errPayload
	}
	st.rev, st.compact, st.resource, st.sessionDir = d.int(), d.int(), string(d.bytes()), string(d.bytes())
	if n := d.count(); n > 0 {
		st.entries = make([]sdk.Entry, 0, n)
		for range n {
			st.entries = append(st.entries, d.entry())
		}
	}
	if n := d.count(); n > 0 {
		// Events are checked and measured, not decoded: a watch that
		// replays them decodes them (eventsFrom).
		st.histRevs = make([]int64, 0, n)
		st.histLens = make([]int, 0, n)
		start := d.b
		for range n {
			before := len(d.b)
			if t := sdk.EventType(d.byte()); t != sdk.EventPut && t != sdk.EventDelete {
				d.err = errPayload
			}
			st.histRevs = append(st.histRevs, d.int())
			d.skipEntry()
			st.histLens = append(st.histLens, before-len(d.b))
		}
		if d.err == nil {
			st.histEnc = slices.Clone(start[:len(start)-len(d.b)])
		}
	}
	if d.err != nil || len(d.b) != 0 || !st.consistent() {
		return nil, errPayload
	}
	return st, nil
}

// consistent reports whether a decoded state obeys the invariants every
// written state does: entries with distinct keys and revisions within
// [1, rev]; history events of known types in increasing revision order
// within [compact, rev].
func (st *state) consistent() bool {
	if st.rev < 0 || st.compact < 0 || st.compact > st.rev+1 {
		return false
	}
	keys := make(map[string]bool, len(st.entries))
	for _, e := range st.entries {
		if keys[e.Key] || e.CreateRev < 1 || e.CreateRev > e.ModRev || e.ModRev > st.rev {
			return false
		}
		keys[e.Key] = true
	}
	last := st.compact - 1
	for _, rev := range st.histRevs {
		if rev <= last || rev > st.rev {
			return false
		}
		last = rev
	}
	return true
}
