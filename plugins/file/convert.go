package file

import (
	"encoding/binary"

	"github.com/locksmithx/locksmith/sdk"
)

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
