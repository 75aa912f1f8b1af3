package sdk

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func writeScript(t *testing.T, path, word string) []byte {
	t.Helper()
	body := "#!/bin/sh\necho " + word + "\n"
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	return sum[:]
}

// TestChecksumRunsWhatWasHashed: a binary swapped (renamed over) between
// the check and the exec does not run; the one hashed does.
func TestChecksumRunsWhatWasHashed(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("executing an open descriptor needs /proc/self/fd")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "plugin")
	sum := writeScript(t, path, "checked")
	cmd := exec.Command(path)
	f, err := verifiedBinary(cmd, sum)
	if err != nil {
		t.Fatalf("verify the right binary: %v", err)
	}
	defer f.Close()
	swap := filepath.Join(dir, "swap")
	writeScript(t, swap, "swapped")
	if err := os.Rename(swap, path); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run the checked binary: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != "checked" {
		t.Fatalf("ran %q, want the binary that was hashed (\"checked\")", got)
	}
	if cmd.Args[0] != path {
		t.Errorf("argv[0] %q, want the plugin's path %q", cmd.Args[0], path)
	}
}

// TestChecksumMismatchRunsNothing: a wrong sum fails with ErrChecksum
// naming both sums, and the command is left unstarted.
func TestChecksumMismatchRunsNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plugin")
	sum := writeScript(t, path, "x")
	wrong := sha256.Sum256([]byte("another binary"))
	cmd := exec.Command(path)
	_, err := Launch(cmd, KindBackend, WithChecksum(wrong[:]))
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("Launch with a wrong sum: %v, want ErrChecksum", err)
	}
	for _, want := range []string{path, "expected sha256 " + hex.EncodeToString(wrong[:]), "actual " + hex.EncodeToString(sum)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if cmd.Process != nil {
		t.Errorf("the plugin was started (pid %d) despite the mismatch", cmd.Process.Pid)
	}
}

// TestLaunchRefusesOtherProtocolVersion: a plugin that answers the
// handshake with a protocol version this sdk does not speak is refused
// with ErrProtocol, naming both versions.
func TestLaunchRefusesOtherProtocolVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plugin")
	script := "#!/bin/sh\necho '1|7|tcp|127.0.0.1:1|grpc'\nexec sleep 30\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	conn, err := Launch(cmd, KindBackend)
	if err == nil {
		conn.Kill()
		t.Fatal("a plugin of protocol version 7 was accepted")
	}
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("Launch: %v, want ErrProtocol", err)
	}
	for _, want := range []string{"version 7", "speaks 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}
