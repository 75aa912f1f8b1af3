//go:build !linux

package main

import "os/exec"

// setChildProcAttr has no parent-death signal to set off Linux.
func setChildProcAttr(*exec.Cmd) {}
