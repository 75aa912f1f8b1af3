package file

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// readSB returns the current superblock of a state file.
func readSB(t *testing.T, path string) superblock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sf := &stateFile{path: path, f: f}
	snap, err := sf.read(bootID{}, false)
	if err != nil || snap.sbErr != "" || snap.fresh {
		t.Fatalf("read superblock of %s: %+v, %v", path, snap, err)
	}
	return snap.sb
}

// garble overwrites n bytes at off in path.
func garble(t *testing.T, path string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	junk := []byte(strings.Repeat("\xa5garbage", n/8+1))[:n]
	if _, err := f.WriteAt(junk, off); err != nil {
		t.Fatal(err)
	}
}

func slotOffset(i int) int64 { return slotBase + int64(i)*defaultSlotCap }

// TestTornOlderSlotIsIgnored: a writer killed in the middle of a change
// can only have torn the payload of the slot it was writing, the older one,
// whose header still names the previous contents. Readers use the newest
// slot, and Check finds nothing wrong.
func TestTornOlderSlotIsIgnored(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	sess := openSession(t, s, time.Minute)
	mustPut(t, s, sdk.PutRequest{Resource: "r", Key: "a", Session: sess})
	mustPut(t, s, sdk.PutRequest{Resource: "r", Key: "b", Session: sess})
	path, _ := s.cfg.statePath("r")
	cur := currentSlot(t, path)
	garble(t, path, slotOffset(1-cur)+slotHeaderSize+2, 8) // the next write's payload, cut short
	other := newStore(t, dir)
	rg, err := other.Range(testCtx(t), "r")
	if err != nil || len(rg.Entries) != 2 {
		t.Fatalf("Range after a torn write = %+v, %v; want the newest state", rg, err)
	}
	if ps, err := other.Check(testCtx(t), "r"); err != nil || len(ps) != 0 {
		t.Errorf("Check after a torn write = %v, %v; a torn older slot is normal", ps, err)
	}
	p := mustPut(t, other, sdk.PutRequest{Resource: "r", Key: "c", Session: openSession(t, other, time.Minute)})
	if p.CreateRev != rg.Rev+1 {
		t.Errorf("next put got revision %d; want %d", p.CreateRev, rg.Rev+1)
	}
}

// currentSlot returns the slot holding the newest state of path.
func currentSlot(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var seqs [2]uint64
	for i := range 2 {
		var hb [slotHeaderSize]byte
		if _, err := f.ReadAt(hb[:], slotOffset(i)); err != nil {
			t.Fatal(err)
		}
		h, err := decodeSlotHeader(hb[:])
		if err != nil {
			t.Fatalf("slot %d of %s has no valid header", i, path)
		}
		seqs[i] = h.seq
	}
	if seqs[1] > seqs[0] {
		return 1
	}
	return 0
}

// TestDamageFailsClosed: any damage a killed writer cannot cause — a byte
// flipped in the newest slot's payload or header, a truncated file, slot
// headers wiped under a superblock that has handed out revisions — fails
// closed with ErrCorrupt naming the file (it never rolls back to an older
// state in which a released holder holds again), Check reports it, and
// after Repair the next revision is above the high-water mark.
func TestDamageFailsClosed(t *testing.T) {
	for _, damage := range []string{"payload-byte", "header-byte", "older-header", "truncate", "zero-headers"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			s := newStore(t, dir)
			ctx := testCtx(t)
			holder := openSession(t, s, time.Minute)
			a := mustPut(t, s, sdk.PutRequest{Resource: "r", Key: "a", Session: holder})
			if _, err := s.Delete(ctx, sdk.DeleteRequest{Resource: "r", Key: "a", ExpectRev: a.ModRev}); err != nil {
				t.Fatal(err)
			}
			b := mustPut(t, s, sdk.PutRequest{Resource: "r", Key: "b", Session: holder})
			path, _ := s.cfg.statePath("r")
			cur := currentSlot(t, path)
			flip := func(off int64) {
				f, err := os.OpenFile(path, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				var c [1]byte
				if _, err := f.ReadAt(c[:], off); err != nil {
					t.Fatal(err)
				}
				c[0] ^= 0x10
				if _, err := f.WriteAt(c[:], off); err != nil {
					t.Fatal(err)
				}
			}
			switch damage {
			case "payload-byte":
				flip(slotOffset(cur) + slotHeaderSize + 3)
			case "header-byte":
				flip(slotOffset(cur) + 9)
			case "older-header":
				flip(slotOffset(1-cur) + 9)
			case "truncate":
				if err := os.Truncate(path, slotBase); err != nil {
					t.Fatal(err)
				}
			case "zero-headers":
				for i := range 2 {
					garble(t, path, slotOffset(i), 0)
					f, err := os.OpenFile(path, os.O_RDWR, 0)
					if err != nil {
						t.Fatal(err)
					}
					_, err = f.WriteAt(make([]byte, slotHeaderSize), slotOffset(i))
					f.Close()
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, st := range []*Store{s, newStore(t, dir)} {
				rg, err := st.Range(ctx, "r")
				if !errors.Is(err, sdk.ErrCorrupt) || !strings.Contains(err.Error(), path) {
					t.Fatalf("Range of a damaged file = %+v, %v; want ErrCorrupt naming %s", rg, err, path)
				}
				if _, err := st.Put(ctx, sdk.PutRequest{Resource: "r", Key: "x", Session: holder}); !errors.Is(err, sdk.ErrCorrupt) {
					t.Errorf("Put into a damaged file = %v; want ErrCorrupt", err)
				}
			}
			ps, err := s.Check(ctx, "r")
			if err != nil || len(ps) == 0 || ps[0].Path != path {
				t.Fatalf("Check = %+v, %v; want a problem at %s", ps, err, path)
			}
			if _, err := s.Repair(ctx, "r"); err != nil {
				t.Fatal(err)
			}
			if ps, err := s.Check(ctx, "r"); err != nil || len(ps) != 0 {
				t.Errorf("Check after Repair = %+v, %v", ps, err)
			}
			p := mustPut(t, s, sdk.PutRequest{Resource: "r", Key: "c", Session: holder})
			if p.CreateRev <= b.Rev || p.CreateRev <= readSB(t, path).hwm-hwmBlock {
				t.Errorf("first revision after Repair = %d; want above %d and the high-water mark", p.CreateRev, b.Rev)
			}
		})
	}
}

// TestCorruptStateIsReportedAndRepaired: with both slots bad, operations
// fail with ErrCorrupt naming the file, Check reports it, and Repair
// reinitialises it at a revision beyond every one handed out.
func TestCorruptStateIsReportedAndRepaired(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	ctx := testCtx(t)
	sess := openSession(t, s, time.Minute)
	var last sdk.PutResult
	for i := range 5 {
		last = mustPut(t, s, sdk.PutRequest{Resource: "r", Key: string(rune('a' + i)), Session: sess})
	}
	path, _ := s.cfg.statePath("r")
	garble(t, path, slotOffset(0), 64)
	garble(t, path, slotOffset(1)+slotHeaderSize, 16)

	for _, b := range []*Store{s, newStore(t, dir)} {
		if _, err := b.Range(ctx, "r"); !errors.Is(err, sdk.ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Errorf("Range of a corrupt file = %v; want ErrCorrupt naming %s", err, path)
		}
		if _, err := b.Put(ctx, sdk.PutRequest{Resource: "r", Key: "x", Session: sess}); !errors.Is(err, sdk.ErrCorrupt) {
			t.Errorf("Put into a corrupt file = %v; want ErrCorrupt", err)
		}
		err := b.Watch(ctx, "r", 1, func(sdk.Event) error { return nil })
		if !errors.Is(err, sdk.ErrCorrupt) {
			t.Errorf("Watch of a corrupt file = %v; want ErrCorrupt", err)
		}
	}
	ps, err := s.Check(ctx, "")
	if err != nil || len(ps) != 1 || ps[0].Path != path || ps[0].Resource != "r" || ps[0].Repaired {
		t.Fatalf("Check = %+v, %v; want one problem at %s", ps, err, path)
	}
	ps, err = s.Repair(ctx, "r")
	if err != nil || len(ps) != 1 || !ps[0].Repaired || ps[0].Path != path {
		t.Fatalf("Repair = %+v, %v", ps, err)
	}
	if ps, err := s.Check(ctx, ""); err != nil || len(ps) != 0 {
		t.Errorf("Check after Repair = %+v, %v", ps, err)
	}
	rg, err := s.Range(ctx, "r")
	if err != nil || len(rg.Entries) != 0 || rg.Rev < hwmBlock {
		t.Errorf("Range after Repair = %+v, %v; want no entries at a revision >= %d", rg, err, hwmBlock)
	}
	p := mustPut(t, s, sdk.PutRequest{Resource: "r", Key: "a", Session: sess})
	if p.CreateRev <= last.Rev || p.CreateRev <= hwmBlock {
		t.Errorf("first revision after Repair = %d; want above %d and the HWM %d", p.CreateRev, last.Rev, hwmBlock)
	}
	err = s.Watch(ctx, "r", last.Rev, func(sdk.Event) error { return nil })
	if !errors.Is(err, sdk.ErrCompacted) {
		t.Errorf("Watch from before the repair = %v; want ErrCompacted", err)
	}
}

// TestRepairLostSuperblock: with the superblock gone too, Repair restarts
// revisions above the wall clock in microseconds.
func TestRepairLostSuperblock(t *testing.T) {
	s := newStore(t, t.TempDir())
	ctx := testCtx(t)
	sess := openSession(t, s, time.Minute)
	mustPut(t, s, sdk.PutRequest{Resource: "r", Key: "a", Session: sess})
	path, _ := s.cfg.statePath("r")
	garble(t, path, 0, 2*superblockSize)
	if _, err := s.Range(ctx, "r"); !errors.Is(err, sdk.ErrCorrupt) {
		t.Fatalf("Range = %v; want ErrCorrupt", err)
	}
	before := time.Now().UnixMicro()
	ps, err := s.Repair(ctx, "")
	if err != nil || len(ps) != 1 || !ps[0].Repaired {
		t.Fatalf("Repair = %+v, %v", ps, err)
	}
	rg, err := s.Range(ctx, "r")
	if err != nil || rg.Rev < before || len(rg.Entries) != 1 {
		t.Errorf("Range after Repair = %+v, %v; want the live entry kept at a revision >= %d", rg, err, before)
	}
}

// TestHighWaterMark: the durable HWM always stays at or above the revision.
func TestHighWaterMark(t *testing.T) {
	s := newStore(t, t.TempDir())
	sess := openSession(t, s, time.Minute)
	path, _ := s.cfg.statePath("r")
	p := mustPut(t, s, sdk.PutRequest{Resource: "r", Key: "k", Session: sess})
	// A new file starts under the machine-wide floor's durable hwm; past
	// it, its own hwm is raised once per hwmBlock revisions.
	first := readSB(t, path).hwm
	if first < p.Rev || first > p.Rev+floorBlock {
		t.Fatalf("first hwm %d at revision %d", first, p.Rev)
	}
	for i := 0; i < floorBlock+hwmBlock && p.Rev <= first+10; i++ {
		p = mustPut(t, s, sdk.PutRequest{Resource: "r", Key: "k", Session: sess})
	}
	if sb := readSB(t, path); sb.hwm < p.Rev || sb.hwm > p.Rev+hwmBlock || sb.boot != s.boot {
		t.Errorf("superblock %+v at revision %d", sb, p.Rev)
	}
}

// TestRebootJumpsToHWM simulates a power loss: the state slots lose their
// latest writes (restored from an older copy), the boot id changes. The
// revision must continue above every revision handed out before, and every
// entry is dropped as a delete.
func TestRebootJumpsToHWM(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	ctx := testCtx(t)
	sess := openSession(t, s, time.Minute)
	path, _ := s.cfg.statePath("r")
	mustPut(t, s, sdk.PutRequest{Resource: "r", Key: "old", Session: sess})
	snapshot, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var last sdk.PutResult
	for range hwmBlock + 100 {
		last = mustPut(t, s, sdk.PutRequest{Resource: "r", Key: "k", Session: sess})
	}
	// The power loss: slot writes since the snapshot are lost, the durable
	// superblock is not.
	cur, _ := os.ReadFile(path)
	lost := append(append([]byte{}, cur[:slotBase]...), snapshot[slotBase:]...)
	if err := os.WriteFile(path, lost, 0o644); err != nil {
		t.Fatal(err)
	}

	rebooted := New()
	rebooted.readBoot = func() (bootID, error) { return parseBootID("00000000-0000-4000-8000-000000000001") }
	if err := rebooted.Configure(ctx, sdk.Config{"named_dir": filepath.Join(dir, "named"), "session_dir": filepath.Join(dir, "sessions")}); err != nil {
		t.Fatal(err)
	}
	defer rebooted.Close()
	rg, err := rebooted.Range(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if rg.Rev <= last.Rev || len(rg.Entries) != 0 {
		t.Fatalf("after the reboot: revision %d with %d entries; want above %d with none", rg.Rev, len(rg.Entries), last.Rev)
	}
	sb := readSB(t, path)
	if sb.boot == s.boot || sb.hwm < rg.Rev {
		t.Errorf("superblock after the reboot: %+v", sb)
	}
	// The dropped entry is a delete event after the jump; older history is
	// gone.
	var evs []sdk.Event
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err = rebooted.Watch(wctx, "r", rg.Rev, func(ev sdk.Event) error { evs = append(evs, ev); return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Watch from the revision after the reboot = %v", err)
	}
	if len(evs) != 1 || evs[0].Type != sdk.EventDelete || evs[0].Entry.Key != "old" || evs[0].Rev != rg.Rev {
		t.Errorf("events after the reboot: %+v", evs)
	}
	if err := rebooted.Watch(ctx, "r", last.Rev, func(sdk.Event) error { return nil }); !errors.Is(err, sdk.ErrCompacted) {
		t.Errorf("Watch from before the reboot = %v; want ErrCompacted", err)
	}
}

// TestRebootWithTornSlots: slots torn by the power loss are not corruption
// to repair by hand: the new boot restarts the state at the HWM.
func TestRebootWithTornSlots(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	sess := openSession(t, s, time.Minute)
	mustPut(t, s, sdk.PutRequest{Resource: "r", Key: "a", Session: sess})
	mustPut(t, s, sdk.PutRequest{Resource: "r", Key: "b", Session: sess})
	path, _ := s.cfg.statePath("r")
	garble(t, path, slotOffset(0), 40)
	garble(t, path, slotOffset(1), 40)
	rebooted := New()
	rebooted.readBoot = func() (bootID, error) { return bootID{9}, nil }
	if err := rebooted.Configure(testCtx(t), sdk.Config{"named_dir": filepath.Join(dir, "named"), "session_dir": filepath.Join(dir, "sessions")}); err != nil {
		t.Fatal(err)
	}
	defer rebooted.Close()
	rg, err := rebooted.Range(testCtx(t), "r")
	if err != nil || rg.Rev < hwmBlock || len(rg.Entries) != 0 {
		t.Errorf("Range after a reboot with torn slots = %+v, %v", rg, err)
	}
}

// TestRepairAfterRebootJumpsFirst: Repair as the first access of a new
// boot applies the reboot handling before anything else, so the purge it
// makes never reuses a revision handed out before the power loss.
func TestRepairAfterRebootJumpsFirst(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	sess := openSession(t, s, time.Minute)
	mustPut(t, s, sdk.PutRequest{Resource: "r", Key: "a", Session: sess})
	killSession(s, sess) // the holder died with the old boot
	rebooted := New()
	rebooted.readBoot = func() (bootID, error) { return bootID{7}, nil }
	if err := rebooted.Configure(testCtx(t), sdk.Config{"named_dir": filepath.Join(dir, "named"), "session_dir": filepath.Join(dir, "sessions")}); err != nil {
		t.Fatal(err)
	}
	defer rebooted.Close()
	path, _ := s.cfg.statePath("r")
	before := readSB(t, path)
	if _, err := rebooted.Repair(testCtx(t), "r"); err != nil {
		t.Fatal(err)
	}
	rg, err := rebooted.Range(testCtx(t), "r")
	// The jump to the HWM comes first, then the removal of "a" above it.
	if err != nil || rg.Rev <= before.hwm || len(rg.Entries) != 0 {
		t.Errorf("Range after Repair in a new boot = %+v, %v", rg, err)
	}
}

// writeV1 writes a format-1 state file holding st under a superblock with
// high-water mark hwm.
func writeV1(t *testing.T, path string, st *state, hwm int64, boot bootID) {
	t.Helper()
	p := st.appendPayload(nil)
	p = append([]byte{1}, p[1+len(st.boot):]...) // format 1: no boot id
	slot := make([]byte, slotHeaderSize, slotHeaderSize+len(p))
	copy(slot, slotMagicV1[:])
	binary.LittleEndian.PutUint64(slot[8:16], 1)
	binary.LittleEndian.PutUint32(slot[16:20], uint32(len(p)))
	slot = append(slot, p...)
	crc := crc32.Update(crc32.Checksum(slot[:20], castagnoli), castagnoli, slot[slotHeaderSize:])
	binary.LittleEndian.PutUint32(slot[20:24], crc)
	file := make([]byte, slotBase+len(slot))
	copy(file, superblock{seq: 1, hwm: hwm, boot: boot, slotCap: defaultSlotCap}.encodeMagic(superblockMagicV1))
	copy(file[slotBase:], slot)
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFormat1Converted: a format-1 file is converted on first use, its
// revisions continuing above its high-water mark; one in which a live
// session (of an older version's process) holds an entry is left alone
// until that session is gone.
func TestFormat1Converted(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	ctx := testCtx(t)
	sess := openSession(t, s, time.Minute)

	idle, _ := s.cfg.statePath("idle")
	old := newState("idle", s.cfg.sessionDir, 0)
	for range 5 {
		old.put("k", "0123456789abcdef0123456789abcdef", nil)
	}
	writeV1(t, idle, old, 3000, s.boot)
	if v1, err := decodePayload(mustRead(t, idle)[slotBase+slotHeaderSize:]); err != nil || v1.rev != 5 {
		t.Fatalf("format-1 payload decodes as %+v, %v", v1, err)
	}
	p := mustPut(t, s, sdk.PutRequest{Resource: "idle", Key: "a", Session: sess})
	if p.CreateRev <= 3000 || len(p.Entries) != 0 && p.Entries[0].Key != "a" {
		t.Errorf("first put after conversion = %+v; want a revision above the format-1 high-water mark 3000", p)
	}
	if ps, err := s.Check(ctx, "idle"); err != nil || len(ps) != 0 {
		t.Errorf("Check after conversion = %+v, %v", ps, err)
	}

	other := newStore(t, dir)
	holder := openSession(t, other, time.Minute)
	busy, _ := s.cfg.statePath("busy")
	held := newState("busy", s.cfg.sessionDir, 0)
	held.put("h", holder, nil)
	writeV1(t, busy, held, hwmBlock, s.boot)
	if _, err := s.Put(ctx, sdk.PutRequest{Resource: "busy", Key: "b", Session: sess}); !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), "format 1") {
		t.Fatalf("Put into a format-1 file with a live entry = %v; want ErrUnavailable naming format 1", err)
	}
	if !bytes.Equal(mustRead(t, busy)[:superblockSize], superblock{seq: 1, hwm: hwmBlock, boot: s.boot, slotCap: defaultSlotCap}.encodeMagic(superblockMagicV1)) {
		t.Fatal("the format-1 file was changed while in use")
	}
	if err := other.Revoke(ctx, holder); err != nil {
		t.Fatal(err)
	}
	p = mustPut(t, s, sdk.PutRequest{Resource: "busy", Key: "b", Session: sess})
	if p.CreateRev <= hwmBlock {
		t.Errorf("put after the holder left = %+v; want a revision above the format-1 high-water mark %d", p, hwmBlock)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
