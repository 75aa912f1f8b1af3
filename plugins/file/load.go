package file

import (
	"cmp"
	"fmt"
	"sync"
)

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
	sf.win = &windows{sf: sf}
	defer func() {
		sf.win.release()
		sf.win = nil
	}()
	snap := snapshot{slot: -1, validSlot: -1}
	var head [2 * superblockSize]byte
	if err := sf.win.readAt(head[:], 0); err != nil {
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
		case snap.maxSeq == 1 && snap.slot == 0 && snap.st != nil && len(snap.st.entries) == 0 && len(snap.st.histRevs) == 0:
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
		if err := sf.readWin(hb[:], sf.slotOffFor(snap.sb, i)); err != nil {
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
		if snap.valid != nil {
			// The newest slot holds a valid state: the older one is
			// read only to fall back on, so it is not read at all.
			break
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
	if err := sf.readWin(b, sf.slotOffFor(sb, i)+slotHeaderSize); err != nil {
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

// readWindow is how much one read of the state takes from the file at
// once. The superblock, slot A's header and a small state in slot A lie in
// the window at offset 0, slot B's header and a small state in slot B in
// the window at slot B's offset, so a read of a small state costs two
// preads rather than four.
const readWindow = 8 << 10

var windowPool = sync.Pool{New: func() any { b := make([]byte, readWindow); return &b }}

// windows holds what one read of the state (stateFile.read) has read: at
// most two windows of the file, in buffers from windowPool.
type windows struct {
	sf  *stateFile
	off [2]int64
	buf [2]*[]byte
	n   int
}

// readAt reads len(b) bytes at off, as stateFile.readAt does: from a
// window already read, or by reading a new window there, or, for a part
// larger than half a window or once two are held, directly.
func (w *windows) readAt(b []byte, off int64) error {
	end := off + int64(len(b))
	for i := range w.n {
		if off >= w.off[i] && end <= w.off[i]+readWindow {
			copy(b, (*w.buf[i])[off-w.off[i]:])
			return nil
		}
	}
	if len(b) > readWindow/2 || w.n == len(w.buf) {
		return w.sf.readAt(b, off)
	}
	buf := windowPool.Get().(*[]byte)
	if err := w.sf.readAt(*buf, off); err != nil {
		windowPool.Put(buf)
		return err
	}
	w.off[w.n], w.buf[w.n] = off, buf
	w.n++
	copy(b, *buf)
	return nil
}

// release returns the windows' buffers to the pool.
func (w *windows) release() {
	for i := range w.n {
		windowPool.Put(w.buf[i])
		w.buf[i] = nil
	}
	w.n = 0
}

// readWin reads through the windows of the read in progress, if any.
func (sf *stateFile) readWin(b []byte, off int64) error {
	if sf.win != nil {
		return sf.win.readAt(b, off)
	}
	return sf.readAt(b, off)
}
