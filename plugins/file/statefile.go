package file

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/locksmithx/locksmith/sdk"
)

// hwmBlock is how many revisions are handed out per durable write of the
// high-water mark.
const hwmBlock = 1024

// stateFile is this process's handle on one resource's state file. The file
// descriptor is opened once and kept; each operation takes flock on it.
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
	// allow (initialisation, reboot handling).
	needExclusive bool
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

// readSuperblock returns the valid superblock record with the highest
// sequence number and its index; empty is true for a file never
// initialised.
func (sf *stateFile) readSuperblock() (sb superblock, idx int, empty bool, err error) {
	var b [2 * superblockSize]byte
	if err := sf.readAt(b[:], 0); err != nil {
		return superblock{}, 0, false, err
	}
	if isZero(b[:]) {
		return superblock{}, 0, true, nil
	}
	idx = -1
	for i := range 2 {
		r, err := decodeSuperblock(b[i*superblockSize : (i+1)*superblockSize])
		if err == nil && (idx < 0 || r.seq > sb.seq) {
			sb, idx = r, i
		}
	}
	if idx < 0 {
		return superblock{}, 0, false, sf.corrupt("no valid superblock record")
	}
	return sb, idx, false, nil
}

// writeSuperblock writes sb into the record not holding the current one
// and makes it durable before returning.
func (sf *stateFile) writeSuperblock(sb superblock) error {
	idx := 1 - sf.sbSlot
	if sb.seq == 1 {
		idx = 0
	}
	if _, err := sf.f.WriteAt(sb.encode(), int64(idx*superblockSize)); err != nil {
		return fmt.Errorf("write superblock of %s: %w", sf.path, err)
	}
	if err := syscall.Fdatasync(int(sf.f.Fd())); err != nil {
		return fmt.Errorf("sync superblock of %s: %w", sf.path, err)
	}
	sf.sb, sf.sbSlot = sb, idx
	return nil
}

func (sf *stateFile) slotOff(i int) int64 {
	return slotBase + int64(i)*int64(sf.sb.slotCap)
}

// readSlot returns the state in slot i if the slot is valid. A slot whose
// header equals the cached one is not read again.
func (sf *stateFile) readSlot(i int, h slotHeader) (*state, bool) {
	if sf.cur != nil && sf.curSlot == i && sf.curHdr == h {
		return sf.cur, true
	}
	if h.length > sf.sb.slotCap-slotHeaderSize {
		return nil, false
	}
	n := slotHeaderSize + int(h.length)
	if cap(sf.buf) < n {
		sf.buf = make([]byte, n)
	}
	b := sf.buf[:n]
	if sf.readAt(b, sf.slotOff(i)) != nil {
		return nil, false
	}
	if _, ok := verifySlot(b); !ok {
		return nil, false
	}
	st, err := decodePayload(b[slotHeaderSize:])
	if err != nil {
		return nil, false
	}
	return st, true
}

// load reads the current state. The caller holds mu and the flock:
// exclusive says which. It initialises a new file, handles a reboot (see
// handleReboot), and reports a file with no valid slot as corrupt.
func (sf *stateFile) load(boot bootID, exclusive bool, sessionDir string) (loaded, error) {
	sb, sbIdx, empty, err := sf.readSuperblock()
	if err != nil {
		sf.cur = nil
		return loaded{}, err
	}
	if empty {
		if !exclusive {
			return loaded{needExclusive: true}, nil
		}
		if err := sf.initialise(boot); err != nil {
			return loaded{}, err
		}
		sf.cur, sf.curSlot, sf.curHdr = newState(sf.resource, sessionDir, 0), -1, slotHeader{}
		return loaded{st: sf.cur}, nil
	}
	sf.sb, sf.sbSlot = sb, sbIdx

	var hb [2][slotHeaderSize]byte
	hdrs := [2]slotHeader{}
	valid := [2]bool{}
	for i := range 2 {
		if err := sf.readAt(hb[i][:], sf.slotOff(i)); err != nil {
			return loaded{}, err
		}
		hdrs[i], valid[i] = parseSlotHeader(hb[i][:])
	}
	order := []int{0, 1}
	if hdrs[1].seq > hdrs[0].seq {
		order = []int{1, 0}
	}
	for _, i := range order {
		if !valid[i] {
			continue
		}
		if st, ok := sf.readSlot(i, hdrs[i]); ok {
			sf.cur, sf.curSlot, sf.curHdr = st, i, hdrs[i]
			return sf.afterLoad(boot, exclusive)
		}
	}
	sf.cur = nil
	if !isZero(hb[0][:]) || !isZero(hb[1][:]) {
		if sb.boot == boot {
			return loaded{}, sf.corrupt("no valid state slot (bad magic or checksum in both)")
		}
		// Slots torn by the power loss that ended the previous boot: the
		// state is dropped anyway; handleReboot restarts from the HWM.
	}
	sf.cur, sf.curSlot, sf.curHdr = newState(sf.resource, sessionDir, 0), -1, slotHeader{}
	return sf.afterLoad(boot, exclusive)
}

func (sf *stateFile) afterLoad(boot bootID, exclusive bool) (loaded, error) {
	if sf.sb.boot == boot {
		return loaded{st: sf.cur}, nil
	}
	if !exclusive {
		return loaded{needExclusive: true}, nil
	}
	if err := sf.handleReboot(boot); err != nil {
		sf.cur = nil
		return loaded{}, err
	}
	return loaded{st: sf.cur, dirty: true}, nil
}

// handleReboot runs on the first exclusive access to the file in a new
// boot of the machine.
//
// State slots are written without fsync, so after a power loss the file may
// hold an older state than the last one committed, or torn slots (which the
// checksums reject). Its revision may therefore lag behind revisions already
// handed out. The superblock's high-water mark does not lag: it is made
// durable before any revision above it is handed out. So the revision
// restarts at the HWM, which is beyond every revision ever handed out, and a
// new HWM (with the new boot id) is made durable before the next one is.
// Every entry is dropped, each as a delete event: its session lived in a
// process of the previous boot. History older than the jump is compacted,
// since it may have lost events.
//
// A plain restart of the plugin, or kill -9 of it, keeps the boot id: the
// page cache holds every committed slot, so the state is exact and nothing
// is dropped beyond what session liveness says.
func (sf *stateFile) handleReboot(boot bootID) error {
	st := sf.cur
	rev := max(st.rev, sf.sb.hwm)
	sb := sf.sb
	sb.seq++
	sb.hwm = rev + hwmBlock
	sb.boot = boot
	if err := sf.writeSuperblock(sb); err != nil {
		return err
	}
	st.rev = rev
	st.clearHistory()
	st.compact = rev + 1
	st.removeIf(func(string) bool { return true })
	return nil
}

// initialise writes the first superblock of a new file and makes the file
// and its directory entry durable.
func (sf *stateFile) initialise(boot bootID) error {
	sb := superblock{seq: 1, hwm: hwmBlock, boot: boot, slotCap: defaultSlotCap}
	if err := sf.writeSuperblock(sb); err != nil {
		return err
	}
	return syncDir(filepath.Dir(sf.path))
}

// commit writes st into the slot not holding the current state, raising
// the HWM first when st.rev passes it. The caller holds the exclusive
// flock.
func (sf *stateFile) commit(st *state) error {
	if st.rev > sf.sb.hwm {
		sb := sf.sb
		sb.seq++
		sb.hwm = st.rev + hwmBlock
		if err := sf.writeSuperblock(sb); err != nil {
			sf.cur = nil
			return err
		}
	}
	b := st.appendPayload(append(sf.buf[:0], make([]byte, slotHeaderSize)...))
	sf.buf = b
	if len(b) > int(sf.sb.slotCap) {
		sf.cur = nil
		return sdk.Errorf(sdk.CodeInvalidArgument, "resource %s: state would take %d bytes, more than the %d bytes a state slot of %s holds (too many entries or values too large)",
			st.resource, len(b), sf.sb.slotCap, sf.path)
	}
	target, seq := 0, uint64(1)
	if sf.curSlot >= 0 {
		target, seq = 1-sf.curSlot, sf.curHdr.seq+1
	}
	h := sealSlot(b, seq)
	if _, err := sf.f.WriteAt(b, sf.slotOff(target)); err != nil {
		sf.cur = nil
		return fmt.Errorf("write state of %s: %w", sf.path, err)
	}
	sf.cur, sf.curSlot, sf.curHdr = st, target, h
	sf.notify()
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
