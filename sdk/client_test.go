package sdk

import (
	"os/exec"
	"slices"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

func TestWithHostLoggerTellsThePluginItsLevel(t *testing.T) {
	for _, level := range []hclog.Level{hclog.Trace, hclog.Warn, hclog.Error, hclog.Off} {
		cfg := &plugin.ClientConfig{Cmd: exec.Command("true")}
		WithHostLogger(hclog.New(&hclog.LoggerOptions{Level: level}))(cfg)
		want := LogLevelEnv + "=" + level.String()
		if !slices.Contains(cfg.Cmd.Env, want) {
			t.Errorf("level %s: plugin environment %q lacks %s", level, cfg.Cmd.Env, want)
		}
		if hclog.LevelFromString(level.String()) != level {
			t.Errorf("level %s does not survive the trip through the environment", level)
		}
	}
}
