package file

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// The layout of a state file (all integers little-endian):
//
//	offset 0      superblock record A (128 bytes)
//	offset 128    superblock record B (128 bytes)
//	offset 4096   state slot A: slot header (32 bytes) + payload
//	offset 4096+C state slot B, where C is the slot capacity in the superblock
//
// A superblock record holds the high-water mark of revisions and the boot it
// was written in; it is written rarely (once per hwmBlock revisions, on
// creation, after a reboot) and always followed by fdatasync. A state slot
// holds the whole state of the resource; every change writes the new state
// into the slot that does not hold the current one, in a single pwrite,
// with no fsync. Readers take the valid record or slot with the highest
// sequence number. Both kinds of record carry a CRC-32C, so a write torn by
// a killed process or a power loss is detected and never trusted.
const (
	superblockSize = 128
	slotBase       = 4096
	slotHeaderSize = 32

	// defaultSlotCap is the capacity of each state slot of a new file. The
	// file is sparse: only what is written takes space.
	defaultSlotCap = 256 << 10

	payloadVersion = 1
)

var (
	superblockMagic = [8]byte{'L', 'K', 'S', 'M', 'S', 'B', '0', '1'}
	slotMagic       = [8]byte{'L', 'K', 'S', 'M', 'S', 'T', '0', '1'}
	castagnoli      = crc32.MakeTable(crc32.Castagnoli)
)

// errNoRecord means a record failed its integrity check.
var errNoRecord = errors.New("bad magic or checksum")

// superblock is one decoded superblock record.
type superblock struct {
	seq uint64
	// hwm is the highest revision that may be handed out before the next
	// superblock write: no committed revision is ever above the durable hwm.
	hwm     int64
	boot    bootID
	slotCap uint32
}

// encode writes s into a 128-byte record:
// magic[8] seq[8] hwm[8] boot[16] slotCap[4] zero... crc[4] at 124.
func (s superblock) encode() []byte {
	b := make([]byte, superblockSize)
	copy(b[0:8], superblockMagic[:])
	binary.LittleEndian.PutUint64(b[8:16], s.seq)
	binary.LittleEndian.PutUint64(b[16:24], uint64(s.hwm))
	copy(b[24:40], s.boot[:])
	binary.LittleEndian.PutUint32(b[40:44], s.slotCap)
	binary.LittleEndian.PutUint32(b[124:128], crc32.Checksum(b[:124], castagnoli))
	return b
}

func decodeSuperblock(b []byte) (superblock, error) {
	if len(b) < superblockSize || !bytes.Equal(b[0:8], superblockMagic[:]) ||
		binary.LittleEndian.Uint32(b[124:128]) != crc32.Checksum(b[:124], castagnoli) {
		return superblock{}, errNoRecord
	}
	s := superblock{
		seq:     binary.LittleEndian.Uint64(b[8:16]),
		hwm:     int64(binary.LittleEndian.Uint64(b[16:24])),
		slotCap: binary.LittleEndian.Uint32(b[40:44]),
	}
	copy(s.boot[:], b[24:40])
	if s.hwm < 0 || s.slotCap < slotHeaderSize+64 || s.slotCap > 1<<30 {
		return superblock{}, errNoRecord
	}
	return s, nil
}

// slotHeader is the header of a state slot:
// magic[8] seq[8] length[4] crc[4] zero[8]. The CRC-32C covers bytes 0..20
// of the header and the payload.
type slotHeader struct {
	seq    uint64
	length uint32
	crc    uint32
}

// parseSlotHeader decodes a header; ok is false when the magic is wrong.
func parseSlotHeader(b []byte) (h slotHeader, ok bool) {
	if len(b) < slotHeaderSize || !bytes.Equal(b[0:8], slotMagic[:]) {
		return slotHeader{}, false
	}
	return slotHeader{
		seq:    binary.LittleEndian.Uint64(b[8:16]),
		length: binary.LittleEndian.Uint32(b[16:20]),
		crc:    binary.LittleEndian.Uint32(b[20:24]),
	}, true
}

// isZero reports whether b is all zero bytes: a slot never written.
func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// sealSlot fills the header at the start of buf (whose payload follows it)
// for sequence number seq and returns the header.
func sealSlot(buf []byte, seq uint64) slotHeader {
	copy(buf[0:8], slotMagic[:])
	binary.LittleEndian.PutUint64(buf[8:16], seq)
	binary.LittleEndian.PutUint32(buf[16:20], uint32(len(buf)-slotHeaderSize))
	clear(buf[20:slotHeaderSize])
	crc := crc32.Update(crc32.Checksum(buf[:20], castagnoli), castagnoli, buf[slotHeaderSize:])
	binary.LittleEndian.PutUint32(buf[20:24], crc)
	return slotHeader{seq: seq, length: uint32(len(buf) - slotHeaderSize), crc: crc}
}

// verifySlot checks a whole slot (header followed by payload).
func verifySlot(buf []byte) (slotHeader, bool) {
	h, ok := parseSlotHeader(buf)
	if !ok || int(h.length) != len(buf)-slotHeaderSize {
		return slotHeader{}, false
	}
	crc := crc32.Update(crc32.Checksum(buf[:20], castagnoli), castagnoli, buf[slotHeaderSize:])
	return h, crc == h.crc
}
