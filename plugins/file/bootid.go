package file

import (
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// bootID identifies one boot of the machine.
type bootID [16]byte

// bootIDPath is where Linux publishes a random id chosen at every boot.
const bootIDPath = "/proc/sys/kernel/random/boot_id"

// readBootID returns the current boot's id.
func readBootID() (bootID, error) {
	raw, err := os.ReadFile(bootIDPath)
	if err != nil {
		return bootID{}, fmt.Errorf("read boot id: %w", err)
	}
	return parseBootID(string(raw))
}

func parseBootID(s string) (bootID, error) {
	var id bootID
	h := strings.ReplaceAll(strings.TrimSpace(s), "-", "")
	if n, err := hex.Decode(id[:], []byte(h)); err != nil || n != len(id) {
		return bootID{}, fmt.Errorf("parse boot id %q: not 32 hex digits", s)
	}
	return id, nil
}

func (b bootID) String() string { return hex.EncodeToString(b[:]) }
