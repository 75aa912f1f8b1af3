package file

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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
	// dev and ino are f's identity, taken when it was opened.
	dev, ino uint64
	sb       superblock
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
	// (see unlock), for the watches of every key (pendingAll) or of the
	// keys it changed (pendingKeys); guarded by mu.
	pendingWake bool
	pendingAll  bool
	pendingKeys []string

	// present: f carries a presence mark (see setPresence); guarded by mu.
	present bool

	// users, watchers and idleSince are guarded by the store's mu (see
	// handles.go); owned says one of this process's sessions holds an
	// entry in the state.
	users     int
	watchers  int
	idleSince time.Time
	owned     atomic.Bool

	// win holds what the read of the state in progress has read (see
	// windows); nil between reads. Guarded by mu.
	win *windows

	wakeMu sync.Mutex
	wake   chan struct{}
	// keyWake are the kicks of this process's watches that wait for the
	// change of certain keys (sdk.WakeOn), by key.
	keyWake map[string]map[chan struct{}]struct{}
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

// changedNow records that the state changed in ways not told by its
// events: unlock tells this process's watches and every other process's,
// once the lock they need is free, those waiting for any key included.
func (sf *stateFile) changedNow() {
	sf.pendingWake, sf.pendingAll = true, true
}

// committed records that st was committed: unlock wakes the watches of
// the file, and those waiting for the keys st's events since the last
// commit touched.
func (sf *stateFile) committed(st *state) {
	sf.pendingWake = true
	for _, k := range st.touched {
		if !slices.Contains(sf.pendingKeys, k) {
			sf.pendingKeys = append(sf.pendingKeys, k)
		}
	}
	st.touched = st.touched[:0]
}

// watchKeys makes a change of any of keys, in this process or (with the
// wake table's help) another, send to kick (without blocking: a kick
// already pending is enough) until the returned func is called.
func (sf *stateFile) watchKeys(keys []string, kick chan struct{}) (stop func()) {
	sf.wakeMu.Lock()
	defer sf.wakeMu.Unlock()
	if sf.keyWake == nil {
		sf.keyWake = map[string]map[chan struct{}]struct{}{}
	}
	for _, k := range keys {
		m := sf.keyWake[k]
		if m == nil {
			m = map[chan struct{}]struct{}{}
			sf.keyWake[k] = m
		}
		m[kick] = struct{}{}
	}
	return func() {
		sf.wakeMu.Lock()
		defer sf.wakeMu.Unlock()
		for _, k := range keys {
			if m := sf.keyWake[k]; m != nil {
				delete(m, kick)
				if len(m) == 0 {
					delete(sf.keyWake, k)
				}
			}
		}
	}
}

// notifyKeys kicks the watches waiting for any of keys (all of them with
// all).
func (sf *stateFile) notifyKeys(keys []string, all bool) {
	sf.wakeMu.Lock()
	defer sf.wakeMu.Unlock()
	kickAll := func(m map[chan struct{}]struct{}) {
		for kick := range m {
			select {
			case kick <- struct{}{}:
			default:
			}
		}
	}
	if all {
		for _, m := range sf.keyWake {
			kickAll(m)
		}
		return
	}
	for _, k := range keys {
		kickAll(sf.keyWake[k])
	}
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
	sf.committed(st)
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
