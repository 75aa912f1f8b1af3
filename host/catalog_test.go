package host

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/locksmithx/locksmith/config"
)

// TestCatalogChecksumIgnoresCase: a sha256 given through the Go API (not
// normalised by config.Load) matches its binary whatever the case of its
// hex digits, and a wrong one is still refused.
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
	if _, err := (&catalog{cfg: cfg}).resolve("file"); !errors.Is(err, ErrPluginChecksum) {
		t.Fatalf("wrong uppercase sha256: %v, want ErrPluginChecksum", err)
	}
}
