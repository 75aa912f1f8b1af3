package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pluginsEnv is an env whose config pins the file plugin's path and
// sha256 (sum; the binary's own when ""), with a plugin dir holding a
// plugin of another protocol version.
func pluginsEnv(t *testing.T, sum string) *env {
	e := newEnv(t)
	bin := filepath.Join(binDir, "locksmith-plugin-file")
	if sum == "" {
		f, err := os.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		sum = hex.EncodeToString(h.Sum(nil))
	}
	dir := filepath.Join(e.dir, "plugins")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := "#!/bin/sh\necho '1|7|tcp|127.0.0.1:1|grpc'\nexec sleep 30\n"
	if err := os.WriteFile(filepath.Join(dir, "locksmith-plugin-old"), []byte(old), 0o755); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("plugin_dir: %s\nplugins:\n  file:\n    path: %s\n    sha256: %q\n    config:\n      named_dir: %s\n      session_dir: %s\n",
		dir, bin, sum, filepath.Join(e.dir, "named"), filepath.Join(e.dir, "sessions"))
	if err := os.WriteFile(e.config, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

func wantAll(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, out)
		}
	}
}

// TestPluginsListInfoVerify: list finds the configured plugin, the ones in
// the plugin dir and beside the executable, and the built-ins, with kind,
// version, protocol, capabilities and sha256; a plugin of another protocol
// version is listed with a problem naming both versions, and verify fails
// on it.
func TestPluginsListInfoVerify(t *testing.T) {
	e := pluginsEnv(t, "")
	code, out := e.run("plugins", "list")
	if code != 0 {
		t.Fatalf("plugins list: exit %d\n%s", code, out)
	}
	wantAll(t, "plugins list", out,
		"file    backend  backend", "ok (sha256 pinned)", "watch,persistent,repair,adopt", " config ",
		"redis", "beside-host", "consul", "built-in",
		"problem: old: ", "protocol version 7, this host speaks 1 and 2")
	code, out = e.run("plugins", "info", "file")
	if code != 0 {
		t.Fatalf("plugins info file: exit %d\n%s", code, out)
	}
	wantAll(t, "plugins info file", out, "kind:          backend", "protocol:      2", "source:        config", "config:        ok (sha256 pinned)")
	code, out = e.run("plugins", "verify")
	if code != 1 {
		t.Fatalf("plugins verify with a plugin of protocol 7 in the plugin dir: exit %d, want 1\n%s", code, out)
	}
	wantAll(t, "plugins verify", out, "old", "MISMATCH", "1 of ")
}

// TestPluginsVerifyChecksumMismatch: a configured sha256 that does not
// match is listed with both sums, the binary is not run, and verify exits
// non-zero.
func TestPluginsVerifyChecksumMismatch(t *testing.T) {
	wrong := strings.Repeat("ab", 32)
	e := pluginsEnv(t, wrong)
	code, out := e.run("plugins", "verify")
	if code != 1 {
		t.Fatalf("plugins verify with a wrong sha256: exit %d, want 1\n%s", code, out)
	}
	wantAll(t, "plugins verify", out, "problem: file: sha256 mismatch: plugins.file.sha256 is "+wrong, "not started")
	code, out = e.run("plugins", "list")
	if code != 0 {
		t.Fatalf("plugins list: exit %d, want 0 (list reports, verify judges)\n%s", code, out)
	}
	wantAll(t, "plugins list", out, "MISMATCH")
}
