package file

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// hwmBlock is how many revisions are handed out per durable write of the
// high-water mark.
const hwmBlock = 1024

// stateFile is this process's handle on one resource's state file. The file
// descriptor is opened once and kept while the file is in use; each
// operation takes flock on it.
//
// A flock belongs to an open file description, so goroutines of one process
// sharing f would share the lock: mu serialises them.
type stateFile struct {
	path     string
	resource string

	mu sync.Mutex
	f  *os.File
	sb superblock
	// sbSlot is the superblock record (0 or 1) holding sb.
	sbSlot int
	// cur is the state last read or written, held in slot curSlot (-1: no
	// slot written yet) with header curHdr. It is only valid while the
	// on-disk header of the current slot still equals curHdr.
	cur     *state
	curSlot int
	curHdr  slotHeader
	buf     []byte

	// bell signals this file's changes to other processes' watches.
	bell *wakeTable

	// pendingWake: a commit under the current lock awaits its wake-ups
	// (see unlock); guarded by mu.
	pendingWake bool

	// present: f carries a presence mark (see setPresence); guarded by mu.
	present bool

	// users, watchers and idleSince are guarded by the store's mu (see
	// handles.go); owned says one of this process's sessions holds an
	// entry in the state.
	users     int
	watchers  int
	idleSince time.Time
	owned     atomic.Bool

	wakeMu sync.Mutex
	wake   chan struct{}
}

// loaded is the outcome of reading a state file under its flock.
type loaded struct {
	st *state
	// dirty: st differs from what is stored (a reboot was handled) and must
	// be committed.
	dirty bool
	// needExclusive: the state needs a change that a shared lock does not
	// allow (initialisation, reboot handling, conversion).
	needExclusive bool
}

// loadEnv is what loading a state file needs to know about its store.
type loadEnv struct {
	boot       bootID
	sessionDir string
	// alive tells whether a session is alive (for converting format 1).
	alive func(id string) bool
	// floor is the machine-wide revision floor new state files start at.
	floor *revisionFloor
}

// changed returns a channel that is closed at the next change this process
// sees of the state file (its own commit, or a change notification).
func (sf *stateFile) changed() <-chan struct{} {
	sf.wakeMu.Lock()
	defer sf.wakeMu.Unlock()
	if sf.wake == nil {
		sf.wake = make(chan struct{})
	}
	return sf.wake
}

// notify wakes everyone waiting on changed.
func (sf *stateFile) notify() {
	sf.wakeMu.Lock()
	if sf.wake != nil {
		close(sf.wake)
		sf.wake = nil
	}
	sf.wakeMu.Unlock()
}

// changedNow records that the state changed: unlock tells this process's
// watches and every other process's, once the lock they need is free.
func (sf *stateFile) changedNow() {
	sf.pendingWake = true
}

func (sf *stateFile) corrupt(format string, args ...any) error {
	return sdk.Errorf(sdk.CodeCorrupt, "state file %s is corrupt: %s; run repair", sf.path, fmt.Sprintf(format, args...))
}

// readAt reads len(b) bytes at off; what lies beyond the end of the file
// reads as zeros.
func (sf *stateFile) readAt(b []byte, off int64) error {
	n, err := sf.f.ReadAt(b, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s: %w", sf.path, err)
	}
	clear(b[n:])
	return nil
}

func (sf *stateFile) writeAt(what string, b []byte, off int64) error {
	if _, err := sf.f.WriteAt(b, off); err != nil {
		return fmt.Errorf("write %s of %s: %w", what, sf.path, err)
	}
	return nil
}

// writeSuperblock writes sb into record idx and makes it durable before
// returning.
func (sf *stateFile) writeSuperblock(sb superblock, idx int) error {
	if err := sf.writeAt("superblock", sb.encode(), int64(idx*superblockSize)); err != nil {
		return err
	}
	if err := syscall.Fdatasync(int(sf.f.Fd())); err != nil {
		return fmt.Errorf("sync superblock of %s: %w", sf.path, err)
	}
	sf.sb, sf.sbSlot = sb, idx
	return nil
}

// raiseHWM writes a superblock whose high-water mark is rev+hwmBlock into
// the record not holding the current one.
//
// The file's directory entry is made durable too: a new file's first
// superblock is not (see initialise), and this hwm must survive a power
// loss with the file.
func (sf *stateFile) raiseHWM(rev int64) error {
	sb := sf.sb
	sb.seq++
	sb.hwm = rev + hwmBlock
	if err := sf.writeSuperblock(sb, 1-sf.sbSlot); err != nil {
		return err
	}
	return syncDir(filepath.Dir(sf.path))
}

func (sf *stateFile) slotOff(i int) int64 {
	return slotBase + int64(i)*int64(sf.sb.slotCap)
}

// load reads the current state. The caller holds mu and the flock:
// exclusive says which. It initialises a new file, converts a format-1
// file, handles a reboot (see handleReboot), and reports any damage a
// killed writer cannot have caused as corruption (see format.go).
func (sf *stateFile) load(env loadEnv, exclusive bool) (loaded, error) {
	snap, err := sf.read(env.boot, true)
	if err != nil {
		sf.cur = nil
		return loaded{}, err
	}
	switch {
	case snap.fresh || snap.v1:
		sf.cur = nil
		if !exclusive {
			return loaded{needExclusive: true}, nil
		}
		if snap.v1 {
			err = sf.convertV1(env)
		} else {
			err = sf.initialise(env, snap.leftover)
		}
		if err != nil {
			return loaded{}, err
		}
		return loaded{st: sf.cur}, nil
	case snap.sbErr != "":
		sf.cur = nil
		return loaded{}, sf.corrupt("%s", snap.sbErr)
	}
	sf.sb, sf.sbSlot = snap.sb, snap.sbIdx
	if snap.sb.boot == env.boot {
		if msg := cmp.Or(snap.sbDamaged, snap.slotErr); msg != "" {
			sf.cur = nil
			return loaded{}, sf.corrupt("%s", msg)
		}
		sf.cur, sf.curSlot, sf.curHdr = snap.st, snap.slot, snap.hdr
		return loaded{st: sf.cur}, nil
	}
	// A new boot: slots may be torn or lost by the power loss that ended
	// the previous one, so whatever valid state is newest is the base.
	sf.cur, sf.curSlot, sf.curHdr = snap.valid, snap.validSlot, snap.validHdr
	if sf.cur == nil {
		sf.cur, sf.curSlot, sf.curHdr = newState(sf.resource, env.sessionDir, 0), -1, slotHeader{}
	}
	if !exclusive {
		return loaded{needExclusive: true}, nil
	}
	if err := sf.handleReboot(env, snap.maxSeq); err != nil {
		sf.cur = nil
		return loaded{}, err
	}
	return loaded{st: sf.cur}, nil
}

// snapshot is what one read of a state file found.
type snapshot struct {
	// fresh: never initialised (all zero, or an initialisation cut short
	// before its superblock was written).
	fresh bool
	// leftover is the revision of a state left by an earlier boot in a
	// fresh file; the new state starts above it.
	leftover int64
	// v1: a format-1 file.
	v1    bool
	sb    superblock
	sbIdx int
	// sbErr describes damage to the superblock that leaves no usable
	// record ("" for none).
	sbErr string
	// sbDamaged describes damage to the record not in use: corruption
	// within one boot, a possible tear by a power loss across boots.
	sbDamaged string
	// st is the state in the slot with the newest valid header, slot its
	// index (-1: none) and hdr its header; nil when that slot is damaged.
	st   *state
	slot int
	hdr  slotHeader
	// valid is the newest state whose header and payload are both intact
	// (what a new boot may fall back on), in validSlot with validHdr.
	valid     *state
	validSlot int
	validHdr  slotHeader
	// maxSeq is the highest seq of a valid slot header.
	maxSeq uint64
	// written: some slot header is not all zero.
	written bool
	// slotErr describes damage to the slots that a killed writer cannot
	// have caused ("" for none).
	slotErr string
}

// read reads the superblock and both slots. With useCache, a newest slot
// whose header and payload checksum equal the cached ones is not decoded
// again. Damage is described in the snapshot, not returned as an error.
func (sf *stateFile) read(boot bootID, useCache bool) (snapshot, error) {
	snap := snapshot{slot: -1, validSlot: -1}
	var head [2 * superblockSize]byte
	if err := sf.readAt(head[:], 0); err != nil {
		return snap, err
	}
	var recs [2]superblock
	var ok [2]bool
	for i := range 2 {
		r, err := decodeSuperblock(head[i*superblockSize : (i+1)*superblockSize])
		recs[i], ok[i] = r, err == nil
	}
	switch {
	case ok[0] || ok[1]:
		snap.sbIdx = 0
		if !ok[0] || (ok[1] && recs[1].seq > recs[0].seq) {
			snap.sbIdx = 1
		}
		snap.sb = recs[snap.sbIdx]
		other := head[(1-snap.sbIdx)*superblockSize : (2-snap.sbIdx)*superblockSize]
		if !ok[1-snap.sbIdx] && !isZero(other) && !isV1Superblock(other) {
			snap.sbDamaged = fmt.Sprintf("superblock record %c is damaged", 'A'+rune(1-snap.sbIdx))
		}
		if ok[0] && ok[1] && recs[0].seq == recs[1].seq {
			snap.sbErr = "both superblock records have the same sequence number"
		}
	case isV1Superblock(head[:]):
		snap.v1 = true
		return snap, nil
	case isZero(head[:]):
		snap.sb = superblock{slotCap: defaultSlotCap}
		if err := sf.readSlots(&snap, false); err != nil {
			return snap, err
		}
		switch {
		case !snap.written:
			// Never written.
			snap.fresh = true
		case snap.valid != nil && snap.valid.boot != boot:
			// Written in an earlier boot, whose power loss took the
			// superblock (a new file's first one is not fsynced: the
			// machine-wide floor covers its revisions).
			snap.fresh, snap.leftover = true, snap.valid.rev
		case snap.maxSeq == 1 && snap.slot == 0 && snap.st != nil && len(snap.st.entries) == 0 && len(snap.st.history) == 0:
			// An initialisation cut short before its superblock.
			snap.fresh = true
		default:
			snap.sbErr = "no superblock, but state slots are written"
		}
		return snap, nil
	default:
		snap.sbErr = "no valid superblock record (bad magic or checksum in both)"
		// What the slots hold may still be worth keeping (see Repair).
		snap.sb = superblock{slotCap: defaultSlotCap}
		return snap, sf.readSlots(&snap, false)
	}
	if snap.sbErr != "" {
		return snap, nil
	}
	return snap, sf.readSlots(&snap, useCache)
}

// isV1Superblock reports whether head (one or two superblock records)
// holds a valid format-1 record.
func isV1Superblock(head []byte) bool {
	for off := 0; off+superblockSize <= len(head); off += superblockSize {
		if _, err := decodeSuperblockMagic(head[off:off+superblockSize], superblockMagicV1); err == nil {
			return true
		}
	}
	return false
}

// readSlots fills the slot part of snap for superblock snap.sb.
func (sf *stateFile) readSlots(snap *snapshot, useCache bool) error {
	var hdrs [2]slotHeader
	var present [2]bool
	for i := range 2 {
		var hb [slotHeaderSize]byte
		if err := sf.readAt(hb[:], sf.slotOffFor(snap.sb, i)); err != nil {
			return err
		}
		if isZero(hb[:]) {
			continue
		}
		snap.written = true
		h, err := decodeSlotHeader(hb[:])
		if err != nil {
			snap.slotErr = fmt.Sprintf("the header of state slot %c is damaged", 'A'+rune(i))
			continue
		}
		hdrs[i], present[i] = h, true
		snap.maxSeq = max(snap.maxSeq, h.seq)
	}
	order := []int{0, 1}
	if !present[0] || present[1] && hdrs[1].seq > hdrs[0].seq {
		order = []int{1, 0}
	}
	switch {
	case !present[0] && !present[1]:
		if snap.slotErr == "" {
			snap.slotErr = "no state slot is written, though the file is initialised"
		}
		return nil
	case present[0] && present[1] && hdrs[0].seq == hdrs[1].seq:
		snap.slotErr = "both state slots have the same sequence number"
	case snap.maxSeq > 1 && !(present[0] && present[1]) && snap.slotErr == "":
		snap.slotErr = fmt.Sprintf("state slot %c is missing", 'A'+rune(order[1]))
	}
	for n, i := range order {
		if !present[i] {
			continue
		}
		st, err := sf.readSlot(snap.sb, i, hdrs[i], useCache)
		if err != nil {
			return err
		}
		if n == 0 {
			snap.slot, snap.hdr, snap.st = i, hdrs[i], st
			if st == nil && snap.slotErr == "" {
				snap.slotErr = fmt.Sprintf("the newest state slot (%c) fails its checksum", 'A'+rune(i))
			}
			if st != nil && st.rev > snap.sb.hwm && snap.slotErr == "" {
				snap.slotErr = fmt.Sprintf("the state's revision %d is above the high-water mark %d", st.rev, snap.sb.hwm)
			}
		}
		if st != nil && snap.valid == nil {
			snap.valid, snap.validSlot, snap.validHdr = st, i, hdrs[i]
		}
	}
	return nil
}

func (sf *stateFile) slotOffFor(sb superblock, i int) int64 {
	return slotBase + int64(i)*int64(sb.slotCap)
}

// readSlot returns the state in slot i with header h, or nil when its
// payload does not match the header. With useCache, the cached state is
// returned when h and the payload checksum are the cached ones.
func (sf *stateFile) readSlot(sb superblock, i int, h slotHeader, useCache bool) (*state, error) {
	if h.length > sb.slotCap-slotHeaderSize {
		return nil, nil
	}
	n := int(h.length)
	if n > 64<<10 {
		// Before allocating much for a header that may be damaged, check
		// that the payload it claims lies within the file.
		fi, err := sf.f.Stat()
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", sf.path, err)
		}
		if sf.slotOffFor(sb, i)+slotHeaderSize+int64(n) > fi.Size() {
			return nil, nil
		}
	}
	if cap(sf.buf) < n {
		sf.buf = make([]byte, n)
	}
	b := sf.buf[:n]
	if err := sf.readAt(b, sf.slotOffFor(sb, i)+slotHeaderSize); err != nil {
		return nil, err
	}
	if !h.holds(b) {
		return nil, nil
	}
	if useCache && sf.cur != nil && sf.curSlot == i && sf.curHdr == h {
		return sf.cur, nil
	}
	st, err := decodePayload(b)
	if err != nil {
		return nil, nil
	}
	return st, nil
}

// handleReboot runs on the first exclusive access to the file in a new
// boot of the machine.
//
// State slots are written without fsync, so after a power loss the file may
// hold an older state than the last one committed, or torn slots. Its
// revision may therefore lag behind revisions already handed out. The
// superblock's high-water mark does not lag: it is made durable before any
// revision above it is handed out. So the revision restarts at the HWM (or
// the machine-wide floor, if higher), which is beyond every revision ever
// handed out, and a new HWM (with the new boot id) is made durable before
// the next one is. Every entry is dropped, each as a delete event: its
// session lived in a process of the previous boot. History older than the
// jump is compacted, since it may have lost events.
//
// A plain restart of the plugin, or kill -9 of it, keeps the boot id: the
// page cache holds every committed slot, so the state is exact and nothing
// is dropped beyond what session liveness says.
//
// The new state is written into both slots (above maxSeq, the highest seq
// of a valid slot header), so no slot torn by the power loss is left.
func (sf *stateFile) handleReboot(env loadEnv, maxSeq uint64) error {
	st := sf.cur
	rev := max(st.rev, sf.sb.hwm)
	if env.floor != nil {
		floor, err := env.floor.current()
		if err != nil {
			return err
		}
		rev = max(rev, floor)
	}
	sb := sf.sb
	sb.seq++
	sb.hwm = rev + hwmBlock
	sb.boot = env.boot
	if err := sf.writeSuperblock(sb, 1-sf.sbSlot); err != nil {
		return err
	}
	st.rev = rev
	st.clearHistory()
	st.compact = rev + 1
	st.removeIf(func(string) bool { return true })
	return sf.rewrite(st, maxSeq+1)
}

// initialise writes a new file: an empty state in slot A at the machine's
// revision floor, then the first superblock. The slot goes first, so an
// initialised superblock always has a slot beside it.
//
// above is a revision the state must start above (one left by an earlier
// boot, or handed out under a format-1 file).
func (sf *stateFile) initialise(env loadEnv, above int64) error {
	var base, hwm int64 = 0, hwmBlock
	durable := false
	if env.floor != nil {
		var err error
		if base, hwm, err = env.floor.reserve(); err != nil {
			return err
		}
		durable = true
	}
	base = max(base, above)
	if base+hwmBlock/2 > hwm {
		hwm, durable = base+hwmBlock, false
	}
	st := newState(sf.resource, env.sessionDir, base)
	sf.sb = superblock{seq: 1, hwm: hwm, boot: env.boot, slotCap: defaultSlotCap}
	if err := sf.writeFresh(st, 1); err != nil {
		return err
	}
	if err := sf.writeAt("superblock", make([]byte, superblockSize), superblockSize); err != nil {
		return err
	}
	if durable {
		// hwm is the machine-wide one, durable already: a power loss that
		// loses this file loses no revision above it.
		if err := sf.writeAt("superblock", sf.sb.encode(), 0); err != nil {
			return err
		}
		sf.sbSlot = 0
		return nil
	}
	if err := sf.writeSuperblock(sf.sb, 0); err != nil {
		return err
	}
	return syncDir(filepath.Dir(sf.path))
}

// writeFresh writes st into slot A at seq and clears slot B's header.
func (sf *stateFile) writeFresh(st *state, seq uint64) error {
	if err := sf.writeAt("state", make([]byte, slotHeaderSize), sf.slotOff(1)); err != nil {
		return err
	}
	return sf.writeSlot(st, 0, seq)
}

// rewrite writes st into both slots, A at seq and B at seq+1, replacing
// whatever either held.
func (sf *stateFile) rewrite(st *state, seq uint64) error {
	if err := sf.writeSlot(st, 0, seq); err != nil {
		return err
	}
	if err := sf.writeSlot(st, 1, seq+1); err != nil {
		return err
	}
	sf.changedNow()
	return nil
}

// writeSlot writes st into slot i at seq: the payload, then the header.
func (sf *stateFile) writeSlot(st *state, i int, seq uint64) error {
	st.boot = sf.sb.boot
	b := st.appendPayload(sf.buf[:0])
	sf.buf = b
	if len(b)+slotHeaderSize > int(sf.sb.slotCap) {
		sf.cur = nil
		return sdk.Errorf(sdk.CodeInvalidArgument, "resource %s: state would take %d bytes, more than the %d bytes a state slot of %s holds (too many entries or values too large)",
			st.resource, len(b)+slotHeaderSize, sf.sb.slotCap, sf.path)
	}
	h := newSlotHeader(seq, b)
	if err := sf.writeAt("state", b, sf.slotOff(i)+slotHeaderSize); err != nil {
		sf.cur = nil
		return err
	}
	if err := sf.writeAt("state", h.encode(), sf.slotOff(i)); err != nil {
		sf.cur = nil
		return err
	}
	sf.cur, sf.curSlot, sf.curHdr = st, i, h
	return nil
}

// commit writes st into the slot not holding the current state, raising
// the HWM first when st.rev passes it. The caller holds the exclusive
// flock.
func (sf *stateFile) commit(st *state) error {
	if st.rev > sf.sb.hwm {
		if err := sf.raiseHWM(st.rev); err != nil {
			sf.cur = nil
			return err
		}
	}
	if sf.curSlot < 0 {
		sf.cur = nil
		return sf.corrupt("no current state slot to write after")
	}
	if err := sf.writeSlot(st, 1-sf.curSlot, sf.curHdr.seq+1); err != nil {
		return err
	}
	sf.changedNow()
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// convertV1 converts a format-1 file into format 2, in place, under the
// exclusive flock. A format-1 file whose entries are all dead (or which has
// none) is reinitialised empty above every revision it handed out: above
// its high-water mark and its newest state. One with live entries is left
// alone: a process of an older version holds a lock in it, and converting
// would lock that process out (it fails closed on a format-2 file) while
// its holder still counts on the lock.
func (sf *stateFile) convertV1(env loadEnv) error {
	var head [2 * superblockSize]byte
	if err := sf.readAt(head[:], 0); err != nil {
		return err
	}
	var sb superblock
	bestIdx := -1
	for i := range 2 {
		r, err := decodeSuperblockMagic(head[i*superblockSize:(i+1)*superblockSize], superblockMagicV1)
		if err == nil && (bestIdx < 0 || r.seq > sb.seq) {
			sb, bestIdx = r, i
		}
	}
	if bestIdx < 0 {
		return sf.corrupt("no valid format-1 superblock record")
	}
	sf.sb = sb
	var newest *state
	var newestSeq uint64
	for i := range 2 {
		var hb [slotHeaderSize]byte
		if err := sf.readAt(hb[:], sf.slotOff(i)); err != nil {
			return err
		}
		n := binary.LittleEndian.Uint32(hb[16:20])
		if n > sb.slotCap-slotHeaderSize {
			continue
		}
		b := make([]byte, slotHeaderSize+int(n))
		if err := sf.readAt(b, sf.slotOff(i)); err != nil {
			return err
		}
		seq, ok := verifySlotV1(b)
		if !ok || (newest != nil && seq < newestSeq) {
			continue
		}
		if st, err := decodePayload(b[slotHeaderSize:]); err == nil {
			newest, newestSeq = st, seq
		}
	}
	above := sb.hwm
	if newest != nil {
		if sb.boot == env.boot {
			for _, e := range newest.entries {
				if env.alive != nil && env.alive(e.Session) {
					return sdk.Errorf(sdk.CodeUnavailable, "state file %s is in format 1 and a process of an older version holds an entry in it (session %s); it is converted once that process is done",
						sf.path, e.Session)
				}
			}
		}
		above = max(above, newest.rev)
	}
	// The slots go first, then the format-2 superblock into the record not
	// holding the newest format-1 one, then that one is cleared. An
	// interruption before the new superblock leaves a format-1 file whose
	// high-water mark still covers every revision, converted again next
	// time; one after it leaves a format-1 record beside the new one,
	// which read tolerates.
	st := newState(sf.resource, env.sessionDir, above)
	sf.sb = superblock{seq: 1, hwm: above + hwmBlock, boot: env.boot, slotCap: sb.slotCap}
	if err := sf.writeFresh(st, 1); err != nil {
		return err
	}
	if err := sf.writeSuperblock(sf.sb, 1-bestIdx); err != nil {
		return err
	}
	return sf.writeAt("superblock", make([]byte, superblockSize), int64(bestIdx*superblockSize))
}
