package host

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/sdk"
)

// TestCatalogChecksumIgnoresCase: a sha256 given through the Go API (not
// normalised by config.Load) matches its binary whatever the case of its
// hex digits, and a wrong one is still refused, at launch.
func TestCatalogChecksumIgnoresCase(t *testing.T) {
	sum, err := fileSHA256(filePlugin)
	if err != nil {
		t.Fatal(err)
	}
	for _, given := range []string{sum, strings.ToUpper(sum), strings.ToUpper(sum[:32]) + sum[32:]} {
		cfg := config.Default()
		cfg.Plugins["file"] = config.Plugin{Path: filePlugin, SHA256: given}
		c := &catalog{cfg: cfg}
		spec, err := c.resolve("file")
		if err != nil {
			t.Fatalf("sha256 %s refused for the right binary: %v", given, err)
		}
		if got := hex.EncodeToString(spec.Sum); got != sum {
			t.Fatalf("sha256 %s: the plugin would be started checking %s", given, got)
		}
	}
	cfg := config.Default()
	cfg.Plugins["file"] = config.Plugin{Path: filePlugin, SHA256: strings.ToUpper(strings.Repeat("ab", 32))}
	spec, err := (&catalog{cfg: cfg}).resolve("file")
	if err != nil {
		t.Fatalf("resolve with a well-formed sha256: %v", err)
	}
	conn, err := sdk.Launch(spec.command(), sdk.KindBackend, sdk.WithChecksum(spec.Sum))
	if err == nil {
		conn.Kill()
		t.Fatal("a binary with the wrong sha256 was started")
	}
	if err := launchErr("backend", spec, err); !errors.Is(err, ErrPluginChecksum) {
		t.Fatalf("wrong uppercase sha256: %v, want ErrPluginChecksum", err)
	}
}

// TestCatalogDoesNotReadTheBinary: resolving a configured plugin with a
// sha256 does not read it (the launch hashes it, once). The binary here is
// a FIFO nobody writes: reading it would block.
func TestCatalogDoesNotReadTheBinary(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "locksmith-plugin-fifo")
	if err := syscall.Mkfifo(fifo, 0o755); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	cfg := config.Default()
	cfg.Plugins["fifo"] = config.Plugin{Path: fifo, SHA256: strings.Repeat("ab", 32)}
	done := make(chan error, 1)
	go func() {
		_, err := (&catalog{cfg: cfg}).resolve("fifo")
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("resolve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("resolve read the plugin binary (it blocked on the FIFO): the launch hashes it, resolve must not")
	}
}

// TestCatalogRejectsMalformedChecksum: a sha256 that is not 64 hex digits
// is a config error naming the key.
func TestCatalogRejectsMalformedChecksum(t *testing.T) {
	for _, bad := range []string{"xyz", strings.Repeat("ab", 31)} {
		cfg := config.Default()
		cfg.Plugins["file"] = config.Plugin{Path: filePlugin, SHA256: bad}
		_, err := (&catalog{cfg: cfg}).resolve("file")
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "plugins.file.sha256") {
			t.Errorf("sha256 %q: %v, want ErrInvalidConfig naming plugins.file.sha256", bad, err)
		}
	}
}

// TestCatalogRelativePathsResolveAgainstConfigDir: a plugin's relative
// path resolves against the directory of the config file that names it,
// and the plugin starts there, so the relative paths in its config resolve
// against that directory too, wherever the host was started.
func TestCatalogRelativePathsResolveAgainstConfigDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(filePlugin, filepath.Join(dir, "locksmith-plugin-file")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "locksmith.yaml")
	if err := os.WriteFile(file, []byte("plugins:\n  file:\n    path: ./locksmith-plugin-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Sources{File: file, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := (&catalog{cfg: cfg}).resolve("file")
	if err != nil {
		t.Fatalf("resolve a path relative to the config file: %v", err)
	}
	if want := filepath.Join(dir, "locksmith-plugin-file"); spec.Path != want {
		t.Errorf("plugin path %s, want %s", spec.Path, want)
	}
	if got := spec.command().Dir; got != dir {
		t.Errorf("plugin starts in %q, want the config file's directory %q", got, dir)
	}
}
