// Package testbin builds the project's binaries for tests that drive them
// as real processes.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Main is a TestMain body: it builds every package of bins (file name ->
// module-relative package, "./cmd/locksmith") into one new temporary
// directory, hands that directory to ready, runs the tests, removes the
// directory and exits with the tests' code. A failed build exits 1 with
// the compiler's output.
func Main(m *testing.M, bins map[string]string, ready func(dir string)) {
	dir, err := os.MkdirTemp("", "locksmith-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_, self, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(self), "..", "..")
	for name, pkg := range bins {
		b := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
		b.Dir = root
		if msg, err := b.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, msg)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	ready(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
