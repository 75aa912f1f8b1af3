package sdk

import (
	"fmt"
	"os"
	"os/exec"
)

// execOpened makes cmd execute the open file f rather than its path: f is
// passed to the child (as fd 3+i) and the child executes
// /proc/self/fd/3+i, the file the host hashed, even if the path now names
// another. argv[0] stays the path, as ps shows it. Without /proc, cmd runs
// the path.
func execOpened(cmd *exec.Cmd, f *os.File) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		return
	}
	if len(cmd.Args) == 0 {
		cmd.Args = []string{cmd.Path}
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	cmd.Path = fmt.Sprintf("/proc/self/fd/%d", 2+len(cmd.ExtraFiles))
}
