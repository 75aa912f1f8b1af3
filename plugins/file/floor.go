package file

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/sdk"
)

// floorFileName is the machine-wide revision floor in the session
// directory.
const floorFileName = "revision-floor"

// floorBlock is how far the floor's durable high-water mark is raised at a
// time: one fsync per floorBlock revisions of growth of the floor.
const floorBlock = 16 * hwmBlock

var (
	// floorHWMMagic marks the floor file's durable records, encoded like a
	// state file's superblock records.
	floorHWMMagic = [8]byte{'L', 'K', 'S', 'M', 'F', 'H', '0', '2'}
	// floorMagic marks its floor record.
	floorMagic = [8]byte{'L', 'K', 'S', 'M', 'F', 'L', '0', '2'}
)

// floorRecordOff and floorRecordSize place the floor record:
// magic[8] floor[8] boot[16] zero... crc[4] at 60.
const (
	floorRecordOff  = slotBase
	floorRecordSize = 64
)

// revisionFloor keeps fencing tokens increasing when a resource's state
// file is removed and later created again. Before a state file at revision
// r is removed, the floor is raised to at least r; a new state file starts
// at the floor. The floor lives in one file in the session directory,
// which every process sharing a resource shares:
//
//	offset 0, 128  two durable records (like a superblock): seq, hwm, boot
//	offset 4096    the floor record: floor, boot (written without fsync)
//
// The floor never passes the durable hwm: the hwm is raised (and fsynced)
// first. In a new boot the floor restarts at the hwm, so a floor write lost
// with the page cache loses nothing. A new state file may hand out
// revisions up to the hwm without an fsync of its own (see
// stateFile.initialise): a power loss that takes the new file with it
// takes no revision above the hwm.
//
// A floor file that is missing (a session directory on tmpfs after a
// reboot) or damaged starts above the wall clock in microseconds, beyond
// any counter that grew by one per change since the epoch.
type revisionFloor struct {
	path string
	boot bootID
	log  hclog.Logger

	mu sync.Mutex
	f  *os.File
}

// floorState is the floor file's content as loaded.
type floorState struct {
	sb    superblock
	sbIdx int
	floor int64
}

func newRevisionFloor(dir string, boot bootID, log hclog.Logger) *revisionFloor {
	return &revisionFloor{path: filepath.Join(dir, floorFileName), boot: boot, log: log}
}

// reserve returns the revision a new state file starts at (its base) and
// the durable hwm it may use as its own, raising the hwm first when the
// base comes near it.
func (rf *revisionFloor) reserve() (base, hwm int64, err error) {
	err = rf.update(func(fs *floorState) (bool, error) {
		if fs.floor+hwmBlock > fs.sb.hwm {
			if err := rf.raiseHWM(fs, fs.floor); err != nil {
				return false, err
			}
		}
		base, hwm = fs.floor, fs.sb.hwm
		return false, nil
	})
	return base, hwm, err
}

// raise lifts the floor to at least rev, making the hwm durable above it
// first. Call it before removing a state file at revision rev.
func (rf *revisionFloor) raise(rev int64) error {
	return rf.update(func(fs *floorState) (bool, error) {
		if rev <= fs.floor {
			return false, nil
		}
		if rev > fs.sb.hwm {
			if err := rf.raiseHWM(fs, rev); err != nil {
				return false, err
			}
		}
		fs.floor = rev
		return true, nil
	})
}

// current returns the floor.
func (rf *revisionFloor) current() (int64, error) {
	var floor int64
	err := rf.update(func(fs *floorState) (bool, error) { floor = fs.floor; return false, nil })
	return floor, err
}

// update runs fn on the loaded floor under an exclusive flock of the
// floor file, and writes the floor record when fn says it changed.
func (rf *revisionFloor) update(fn func(fs *floorState) (bool, error)) error {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if rf.f == nil {
		f, err := os.OpenFile(rf.path, os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			return openErr("revision floor", rf.path, err)
		}
		// Every user's processes share the floor, as they share the
		// session directory.
		_ = f.Chmod(0o666)
		rf.f = f
	}
	if err := flock(rf.f, syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", rf.path, err)
	}
	defer unlockFile(rf.f)
	fs, dirty, err := rf.load()
	if err != nil {
		return err
	}
	changed, err := fn(&fs)
	if err != nil {
		return err
	}
	if !changed && !dirty {
		return nil
	}
	if _, err := rf.f.WriteAt(encodeFloor(fs.floor, rf.boot), floorRecordOff); err != nil {
		return fmt.Errorf("write %s: %w", rf.path, err)
	}
	return nil
}

// load reads the floor file, handling a new boot and a missing or damaged
// file; dirty says the floor record must be written.
func (rf *revisionFloor) load() (fs floorState, dirty bool, err error) {
	var b [floorRecordOff + floorRecordSize]byte
	n, err := rf.f.ReadAt(b[:], 0)
	if err != nil && n != len(b) && !errors.Is(err, io.EOF) {
		return fs, false, fmt.Errorf("read %s: %w", rf.path, err)
	}
	clear(b[n:])
	fs.sbIdx = -1
	for i := range 2 {
		r, err := decodeSuperblockMagic(b[i*superblockSize:(i+1)*superblockSize], floorHWMMagic)
		if err == nil && (fs.sbIdx < 0 || r.seq > fs.sb.seq) {
			fs.sb, fs.sbIdx = r, i
		}
	}
	if fs.sbIdx < 0 {
		// A new floor starts at 0 where it persists. Where it does not
		// (tmpfs), or when it is damaged, it may have been lost with
		// revisions below it: it starts above the wall clock.
		var start int64
		switch {
		case !isZero(b[:]):
			rf.log.Warn("revision floor is damaged; restarting it above the wall clock", "path", rf.path)
			start = time.Now().UnixMicro()
		case onTmpfs(filepath.Dir(rf.path)):
			start = time.Now().UnixMicro()
		}
		fs = floorState{sb: superblock{slotCap: slotBase}, sbIdx: 1, floor: start}
		if err := rf.raiseHWM(&fs, start); err != nil {
			return fs, false, err
		}
		return fs, true, nil
	}
	floor, boot, ok := decodeFloor(b[floorRecordOff:])
	if fs.sb.boot != rf.boot {
		// A new boot: floor writes of the last one may be lost, the hwm
		// is not.
		fs.floor = fs.sb.hwm
		if err := rf.raiseHWM(&fs, fs.floor); err != nil {
			return fs, false, err
		}
		return fs, true, nil
	}
	if !ok || boot != rf.boot || floor > fs.sb.hwm {
		if !isZero(b[floorRecordOff:]) && (!ok || floor > fs.sb.hwm) {
			rf.log.Warn("revision floor record is damaged; restarting it at the high-water mark", "path", rf.path)
		}
		fs.floor = fs.sb.hwm
		return fs, true, nil
	}
	fs.floor = floor
	return fs, false, nil
}

// raiseHWM makes hwm = rev+floorBlock (with this boot) durable.
func (rf *revisionFloor) raiseHWM(fs *floorState, rev int64) error {
	sb := fs.sb
	sb.seq++
	sb.hwm = rev + floorBlock
	sb.boot = rf.boot
	idx := 1 - fs.sbIdx
	if _, err := rf.f.WriteAt(sb.encodeMagic(floorHWMMagic), int64(idx*superblockSize)); err != nil {
		return fmt.Errorf("write %s: %w", rf.path, err)
	}
	if err := syscall.Fdatasync(int(rf.f.Fd())); err != nil {
		return fmt.Errorf("sync %s: %w", rf.path, err)
	}
	fs.sb, fs.sbIdx = sb, idx
	return nil
}

func (rf *revisionFloor) close() {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if rf.f != nil {
		_ = rf.f.Close()
		rf.f = nil
	}
}

func encodeFloor(floor int64, boot bootID) []byte {
	b := make([]byte, floorRecordSize)
	copy(b[0:8], floorMagic[:])
	binary.LittleEndian.PutUint64(b[8:16], uint64(floor))
	copy(b[16:32], boot[:])
	binary.LittleEndian.PutUint32(b[60:64], crc32.Checksum(b[:60], castagnoli))
	return b
}

func decodeFloor(b []byte) (floor int64, boot bootID, ok bool) {
	if len(b) < floorRecordSize || !bytes.Equal(b[0:8], floorMagic[:]) ||
		binary.LittleEndian.Uint32(b[60:64]) != crc32.Checksum(b[:60], castagnoli) {
		return 0, boot, false
	}
	floor = int64(binary.LittleEndian.Uint64(b[8:16]))
	copy(boot[:], b[16:32])
	return floor, boot, floor >= 0 && floor <= maxRev
}

// openErr classifies a failure to open or create a file the store needs:
// a permanent code for what no retry fixes (permissions, a read-only file
// system, a name the file system cannot hold), unavailable otherwise.
func openErr(what, path string, err error) error {
	switch {
	case errors.Is(err, syscall.ENAMETOOLONG):
		return sdk.Errorf(sdk.CodeInvalidArgument, "open %s %s: the name is too long for the file system; use a shorter resource name", what, path)
	case errors.Is(err, syscall.EROFS):
		return sdk.Errorf(sdk.CodePermission, "open %s %s: the file system is read-only; lock a resource on a writable one", what, path)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return sdk.Errorf(sdk.CodePermission, "open %s %s: permission denied; this user needs write access to the file and its directory", what, path)
	}
	return sdk.Errorf(sdk.CodeUnavailable, "open %s %s: %v", what, path, err)
}
