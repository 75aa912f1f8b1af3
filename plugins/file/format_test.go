package file

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/locksmithx/locksmith/sdk"
)

func sampleState() *state {
	st := newState("db/migrate", "/tmp/sessions", 0)
	st.put("a", "0123456789abcdef0123456789abcdef", []byte("mode=X"))
	st.put("b", "fedcba9876543210fedcba9876543210", nil)
	st.update(0, []byte("mode=S"))
	st.remove(1)
	st.touched = nil // not stored: what the next commit wakes
	return st
}

func TestPayloadRoundTrip(t *testing.T) {
	st := sampleState()
	got, err := decodePayload(st.appendPayload(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, st) {
		t.Errorf("decoded %+v\nwant    %+v", got, st)
	}
	events, err := st.eventsFrom(0)
	if err != nil || st.rev != 4 || st.compact != 1 || len(events) != 4 || events[3].Type != sdk.EventDelete {
		t.Errorf("state after four changes: %+v, events %+v (%v)", st, events, err)
	}
	// The decoded state's history is decoded only when asked for, and
	// then equals what was recorded.
	again, err := got.eventsFrom(2)
	if err != nil || !reflect.DeepEqual(again, events[1:]) {
		t.Errorf("decoded history from 2: %+v (%v)\nwant %+v", again, err, events[1:])
	}
}

// TestSlotDetectsEveryFlippedByte: every flipped bit of a slot's header is
// caught by the header's own CRC, every one of its payload by the payload
// CRC the header carries.
func TestSlotDetectsEveryFlippedByte(t *testing.T) {
	payload := sampleState().appendPayload(nil)
	h := newSlotHeader(7, payload)
	hb := h.encode()
	if got, err := decodeSlotHeader(hb); err != nil || got != h || !got.holds(payload) {
		t.Fatalf("decodeSlotHeader of an encoded header = %+v, %v", got, err)
	}
	for i := range hb {
		for bit := range 8 {
			bad := bytes.Clone(hb)
			bad[i] ^= 1 << bit
			if _, err := decodeSlotHeader(bad); err == nil {
				t.Fatalf("flipping bit %d of header byte %d went undetected", bit, i)
			}
		}
	}
	for i := range payload {
		bad := bytes.Clone(payload)
		bad[i] ^= 0x40
		if h.holds(bad) {
			t.Fatalf("flipping payload byte %d went undetected", i)
		}
	}
	if h.holds(payload[:len(payload)-1]) {
		t.Error("a truncated payload went undetected")
	}
}

func TestSuperblockRoundTripAndDamage(t *testing.T) {
	sb := superblock{seq: 3, hwm: 2048, boot: bootID{1, 2, 3}, slotCap: defaultSlotCap}
	b := sb.encode()
	if got, err := decodeSuperblock(b); err != nil || got != sb {
		t.Fatalf("decode = %+v, %v", got, err)
	}
	b[17] ^= 1
	if _, err := decodeSuperblock(b); err == nil {
		t.Error("a damaged superblock decoded")
	}
}

func TestDecodeGarbageNeverPanics(t *testing.T) {
	good := sampleState().appendPayload(nil)
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := bytes.Clone(good)
		for range 1 + r.IntN(4) {
			b[r.IntN(len(b))] = byte(r.Uint32())
		}
		b = b[:r.IntN(len(b)+1)]
		_, _ = decodePayload(b)
	}
}

func TestHistoryBounds(t *testing.T) {
	st := newState("r", "", 0)
	for range historyEvents + 10 {
		st.put("k", "s", []byte("v"))
	}
	if len(st.histRevs) != historyEvents || st.compact != st.rev-historyEvents+1 {
		t.Errorf("history %d events from %d at rev %d", len(st.histRevs), st.compact, st.rev)
	}
	big := make([]byte, historyBytes/3)
	for range 5 {
		st.put("k", "s", big)
	}
	if len(st.histEnc) > historyBytes || st.histRevs[len(st.histRevs)-1] != st.rev || st.compact != st.histRevs[0] {
		t.Errorf("byte bound: %d bytes, %d events, compact %d", len(st.histEnc), len(st.histRevs), st.compact)
	}
	if got, err := st.eventsFrom(st.rev); err != nil || len(got) != 1 || got[0].Rev != st.rev {
		t.Errorf("eventsFrom(rev) = %v (%v)", got, err)
	}
}
