package host

import (
	"errors"
	"strings"
	"testing"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/sdk"
)

// TestConfigErrorNamesTheFullKey: a plugin's config error names the key by
// its full path in the host config, not just "unknown field".
func TestConfigErrorNamesTheFullKey(t *testing.T) {
	cfg := config.Default()
	cfg.Backend = "memory"
	cfg.Plugins["memory"] = config.Plugin{Path: memoryPlugin, Config: map[string]any{"histroy": 5}}
	_, err := New(testCtx(t), cfg)
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New with a misspelt plugin key: %v, want ErrInvalidConfig", err)
	}
	if want := "plugins.memory.config.histroy: unknown key; known keys: history"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name the key in full (%q)", err, want)
	}
}

func TestConfigErrQualifiesKeys(t *testing.T) {
	for _, tc := range []struct {
		in   error
		want string
	}{
		{sdk.Errorf(sdk.CodeInvalidConfig, "tls.ca: want string"), "plugins.x.config.tls.ca: want string"},
		{sdk.Errorf(sdk.CodeInvalidConfig, "addrs[1]: not host:port"), "plugins.x.config.addrs[1]: not host:port"},
		{sdk.Errorf(sdk.CodeInvalidConfig, "no server answers"), "plugins.x.config: no server answers"},
		{sdk.Errorf(sdk.CodeUnavailable, "down: now"), "down: now"},
	} {
		got := configErr("x", tc.in)
		if got.Error() != tc.want || sdk.CodeOf(got) != sdk.CodeOf(tc.in) {
			t.Errorf("configErr(%q) = %q (%s), want %q (%s)", tc.in, got, sdk.CodeOf(got), tc.want, sdk.CodeOf(tc.in))
		}
	}
}
