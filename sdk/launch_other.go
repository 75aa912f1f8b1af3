//go:build !unix

package sdk

import "os/exec"

// killLaunchGroup does nothing where there are no process groups.
func killLaunchGroup(*exec.Cmd) {}
