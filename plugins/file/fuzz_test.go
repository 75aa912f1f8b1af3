package file

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// The fuzz targets decode every record of a state file from arbitrary
// bytes. Their seed corpus is in testdata/fuzz/<target>; run one with
// go test ./plugins/file -run '^$' -fuzz FuzzLoadStateFile -fuzztime 1m.

// FuzzDecodeSuperblock: no input panics, and what decodes encodes back to
// the same record.
func FuzzDecodeSuperblock(f *testing.F) {
	f.Add(superblock{seq: 2, hwm: 2048, boot: bootID{1}, slotCap: defaultSlotCap}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		sb, err := decodeSuperblock(b)
		if err != nil {
			return
		}
		if !bytes.Equal(sb.encode(), b[:superblockSize]) {
			t.Fatalf("decoded %+v does not encode back to its record", sb)
		}
	})
}

// FuzzDecodeSlotHeader: no input panics, and what decodes encodes back to
// the same header.
func FuzzDecodeSlotHeader(f *testing.F) {
	f.Add(newSlotHeader(3, sampleState().appendPayload(nil)).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeSlotHeader(b)
		if err != nil {
			return
		}
		if !bytes.Equal(h.encode(), b[:slotHeaderSize]) {
			t.Fatalf("decoded %+v does not encode back to its header", h)
		}
	})
}

// FuzzDecodePayload: no input panics, and a decoded state is consistent
// and survives a round trip.
func FuzzDecodePayload(f *testing.F) {
	f.Add(sampleState().appendPayload(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodePayload(b)
		if err != nil {
			return
		}
		if !st.consistent() {
			t.Fatalf("decoded an inconsistent state %+v", st)
		}
		again, err := decodePayload(st.appendPayload(nil))
		if err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		st.boot = again.boot // a format-1 payload has none
		if !reflect.DeepEqual(again, st) {
			t.Fatalf("round trip changed the state:\n%+v\n%+v", st, again)
		}
	})
}

// FuzzLoadStateFile loads a whole state file as an exclusive operation
// does: no input panics, and one it rejects is left exactly as it was.
func FuzzLoadStateFile(f *testing.F) {
	f.Add(sampleFile(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		floor := newRevisionFloor(dir, bootID{1}, hclog.NewNullLogger())
		defer floor.close()
		env := loadEnv{boot: bootID{1}, sessionDir: dir, alive: func(string) bool { return true }, floor: floor}
		path := filepath.Join(dir, "r.locksmith")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		file, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		sf := &stateFile{path: path, resource: "r", f: file, curSlot: -1}
		l, err := sf.load(env, true)
		after, rerr := os.ReadFile(path)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if err != nil {
			if !bytes.Equal(after, b) {
				t.Fatalf("load failed (%v) but changed the file", err)
			}
			return
		}
		if l.st == nil || !l.st.consistent() {
			t.Fatalf("load returned %+v", l.st)
		}
		// What load accepted, or wrote, loads again.
		again := &stateFile{path: path, resource: "r", f: file, curSlot: -1}
		if _, err := again.load(env, true); err != nil {
			t.Fatalf("state accepted once is rejected next: %v", err)
		}
	})
}

// sampleFile returns a small state file (4 KiB slots) holding
// sampleState in slot B over an older state in slot A.
func sampleFile(t testing.TB) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sample")
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	sf := &stateFile{path: path, f: file, curSlot: -1, sb: superblock{seq: 1, hwm: hwmBlock, boot: bootID{1}, slotCap: slotBase}}
	older := newState("r", "/tmp/s", 0)
	if err := sf.writeFresh(older, 1); err != nil {
		t.Fatal(err)
	}
	if err := sf.commit(sampleState()); err != nil {
		t.Fatal(err)
	}
	if _, err := file.WriteAt(sf.sb.encode(), 0); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
