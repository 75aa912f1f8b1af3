package sdk

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// verifiedBinary opens cmd's binary, checks the SHA-256 of what it read
// through that descriptor against sum, and points cmd at the descriptor
// where the platform can execute one (execOpened), so that what runs is
// what was hashed. The caller closes the returned file once cmd started.
func verifiedBinary(cmd *exec.Cmd, sum []byte) (*os.File, error) {
	f, err := os.Open(cmd.Path)
	if err != nil {
		return nil, fmt.Errorf("start plugin %s: %w", cmd.Path, err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start plugin %s: read binary to check its sha256: %w", cmd.Path, err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, sum) {
		f.Close()
		return nil, fmt.Errorf("start plugin %s: %w: expected sha256 %s, actual %s; not started",
			cmd.Path, ErrChecksum, hex.EncodeToString(sum), hex.EncodeToString(got))
	}
	execOpened(cmd, f)
	return f, nil
}
