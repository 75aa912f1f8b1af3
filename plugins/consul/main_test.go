package consul

import (
	"path/filepath"
	"testing"

	"github.com/locksmithx/locksmith/internal/testbin"
)

// locksmith and plugin are the binaries the multi-process tests drive,
// built once for the package's tests.
var locksmith, plugin string

func TestMain(m *testing.M) {
	testbin.Main(m, map[string]string{
		"locksmith":               "./cmd/locksmith",
		"locksmith-plugin-consul": "./plugins/consul/cmd/locksmith-plugin-consul",
	}, func(dir string) {
		locksmith = filepath.Join(dir, "locksmith")
		plugin = filepath.Join(dir, "locksmith-plugin-consul")
	})
}
