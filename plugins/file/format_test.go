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
	if st.rev != 4 || st.compact != 1 || len(st.history) != 4 || st.history[3].Type != sdk.EventDelete {
		t.Errorf("state after four changes: %+v", st)
	}
}

func TestSlotDetectsEveryFlippedByte(t *testing.T) {
	payload := sampleState().appendPayload(nil)
	buf := append(make([]byte, slotHeaderSize), payload...)
	h := sealSlot(buf, 7)
	if got, ok := verifySlot(buf); !ok || got != h || h.seq != 7 {
		t.Fatalf("verifySlot of a sealed slot = %+v, %v", got, ok)
	}
	for i := 0; i < 24+len(payload); i++ {
		j := i
		if i >= 24 {
			j = slotHeaderSize + i - 24
		}
		bad := bytes.Clone(buf)
		bad[j] ^= 0x40
		if _, ok := verifySlot(bad); ok {
			t.Fatalf("flipping byte %d went undetected", j)
		}
	}
	if _, ok := verifySlot(buf[:len(buf)-1]); ok {
		t.Error("a truncated slot went undetected")
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
	if len(st.history) != historyEvents || st.compact != st.rev-historyEvents+1 {
		t.Errorf("history %d events from %d at rev %d", len(st.history), st.compact, st.rev)
	}
	big := make([]byte, historyBytes/3)
	for range 5 {
		st.put("k", "s", big)
	}
	if len(st.histEnc) > historyBytes || st.history[len(st.history)-1].Rev != st.rev || st.compact != st.history[0].Rev {
		t.Errorf("byte bound: %d bytes, %d events, compact %d", len(st.histEnc), len(st.history), st.compact)
	}
	if got := st.eventsFrom(st.rev); len(got) != 1 || got[0].Rev != st.rev {
		t.Errorf("eventsFrom(rev) = %v", got)
	}
}
