package file

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// The layout of a state file, format 2 (all integers little-endian):
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
// into the slot that does not hold the current one, payload first, then
// the slot's header in a second, small pwrite, with no fsync. The header
// carries its own CRC and the payload's.
//
// A header is 32 bytes at the start of a page-aligned slot: one copy within
// one page, which a killed process cannot leave half done. So after kill -9
// the slot with the highest valid header seq is always complete, and only
// the payload of the older slot (the one being written) can be torn. Any
// other damage — a bad header, a newest payload failing its CRC, slots
// missing under an initialised superblock — was not made by a crash of
// this boot and is reported as corruption. A power loss can tear anything;
// the boot id in the superblock tells that case apart (handleReboot).
const (
	superblockSize = 128
	slotBase       = 4096
	slotHeaderSize = 32

	// defaultSlotCap is the capacity of each state slot of a new file. The
	// file is sparse: only what is written takes space.
	defaultSlotCap = 256 << 10

	// payloadVersion 2 added the boot id.
	payloadVersion = 2
)

var (
	superblockMagic = [8]byte{'L', 'K', 'S', 'M', 'S', 'B', '0', '2'}
	slotMagic       = [8]byte{'L', 'K', 'S', 'M', 'S', 'T', '0', '2'}
	// Format 1 (torn-write detection by a single CRC over header and
	// payload). Files in it are converted on first exclusive access; see
	// stateFile.convertV1.
	superblockMagicV1 = [8]byte{'L', 'K', 'S', 'M', 'S', 'B', '0', '1'}
	slotMagicV1       = [8]byte{'L', 'K', 'S', 'M', 'S', 'T', '0', '1'}
	castagnoli        = crc32.MakeTable(crc32.Castagnoli)
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
	return s.encodeMagic(superblockMagic)
}

func (s superblock) encodeMagic(magic [8]byte) []byte {
	b := make([]byte, superblockSize)
	copy(b[0:8], magic[:])
	binary.LittleEndian.PutUint64(b[8:16], s.seq)
	binary.LittleEndian.PutUint64(b[16:24], uint64(s.hwm))
	copy(b[24:40], s.boot[:])
	binary.LittleEndian.PutUint32(b[40:44], s.slotCap)
	binary.LittleEndian.PutUint32(b[124:128], crc32.Checksum(b[:124], castagnoli))
	return b
}

// decodeSuperblock decodes a format-2 superblock record.
func decodeSuperblock(b []byte) (superblock, error) {
	return decodeSuperblockMagic(b, superblockMagic)
}

func decodeSuperblockMagic(b []byte, magic [8]byte) (superblock, error) {
	if len(b) < superblockSize || !bytes.Equal(b[0:8], magic[:]) ||
		binary.LittleEndian.Uint32(b[124:128]) != crc32.Checksum(b[:124], castagnoli) {
		return superblock{}, errNoRecord
	}
	s := superblock{
		seq:     binary.LittleEndian.Uint64(b[8:16]),
		hwm:     int64(binary.LittleEndian.Uint64(b[16:24])),
		slotCap: binary.LittleEndian.Uint32(b[40:44]),
	}
	copy(s.boot[:], b[24:40])
	if s.seq == 0 || s.hwm < 0 || s.hwm > maxRev || s.slotCap < slotHeaderSize+64 || s.slotCap > 1<<30 || s.slotCap%slotBase != 0 {
		return superblock{}, errNoRecord
	}
	return s, nil
}

// maxRev bounds revisions, so that arithmetic on them cannot overflow.
const maxRev = 1 << 62

// slotHeader is the header of a format-2 state slot:
// magic[8] seq[8] length[4] payload crc[4] header crc[4] zero[4], where the
// header CRC-32C covers bytes 0..24.
type slotHeader struct {
	seq    uint64
	length uint32
	crc    uint32
}

// encode returns the 32-byte header.
func (h slotHeader) encode() []byte {
	b := make([]byte, slotHeaderSize)
	copy(b[0:8], slotMagic[:])
	binary.LittleEndian.PutUint64(b[8:16], h.seq)
	binary.LittleEndian.PutUint32(b[16:20], h.length)
	binary.LittleEndian.PutUint32(b[20:24], h.crc)
	binary.LittleEndian.PutUint32(b[24:28], crc32.Checksum(b[:24], castagnoli))
	return b
}

// newSlotHeader returns the header of a slot holding payload at seq.
func newSlotHeader(seq uint64, payload []byte) slotHeader {
	return slotHeader{seq: seq, length: uint32(len(payload)), crc: crc32.Checksum(payload, castagnoli)}
}

// decodeSlotHeader decodes a format-2 header; it fails unless the magic,
// the header CRC and the zero tail are right.
func decodeSlotHeader(b []byte) (slotHeader, error) {
	if len(b) < slotHeaderSize || !bytes.Equal(b[0:8], slotMagic[:]) ||
		binary.LittleEndian.Uint32(b[24:28]) != crc32.Checksum(b[:24], castagnoli) ||
		!isZero(b[28:32]) {
		return slotHeader{}, errNoRecord
	}
	h := slotHeader{
		seq:    binary.LittleEndian.Uint64(b[8:16]),
		length: binary.LittleEndian.Uint32(b[16:20]),
		crc:    binary.LittleEndian.Uint32(b[20:24]),
	}
	if h.seq == 0 {
		return slotHeader{}, errNoRecord
	}
	return h, nil
}

// holds reports whether payload is the one h describes.
func (h slotHeader) holds(payload []byte) bool {
	return len(payload) == int(h.length) && crc32.Checksum(payload, castagnoli) == h.crc
}

// isZero reports whether b is all zero bytes: a record never written.
func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// verifySlotV1 checks a whole format-1 slot (header followed by payload):
// magic[8] seq[8] length[4] crc[4] zero[8], the CRC covering header bytes
// 0..20 and the payload. It returns the slot's seq.
func verifySlotV1(buf []byte) (uint64, bool) {
	if len(buf) < slotHeaderSize || !bytes.Equal(buf[0:8], slotMagicV1[:]) ||
		int(binary.LittleEndian.Uint32(buf[16:20])) != len(buf)-slotHeaderSize {
		return 0, false
	}
	crc := crc32.Update(crc32.Checksum(buf[:20], castagnoli), castagnoli, buf[slotHeaderSize:])
	return binary.LittleEndian.Uint64(buf[8:16]), crc == binary.LittleEndian.Uint32(buf[20:24])
}
