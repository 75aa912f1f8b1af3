package sdk

import (
	"os/exec"
	"slices"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestWithHostLoggerTellsThePluginItsLevel(t *testing.T) {
	for _, level := range []hclog.Level{hclog.Trace, hclog.Warn, hclog.Error, hclog.Off} {
		cmd := exec.Command("true")
		// true is no plugin: Launch fails, after it set the environment.
		_, _ = Launch(cmd, KindBackend, WithHostLogger(hclog.New(&hclog.LoggerOptions{Level: level})), WithStartTimeout(1))
		want := LogLevelEnv + "=" + level.String()
		if !slices.Contains(cmd.Env, want) {
			t.Errorf("level %s: plugin environment %q lacks %s", level, cmd.Env, want)
		}
		if hclog.LevelFromString(level.String()) != level {
			t.Errorf("level %s does not survive the trip through the environment", level)
		}
	}
}
