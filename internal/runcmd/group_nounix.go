//go:build !unix

package runcmd

import (
	"os"
	"time"
)

// Without process groups, exec signals and stops its command alone.
const leftoverGrace = 2 * time.Second

func SignalGroup(int, os.Signal) {}

func stopGroup(int, time.Duration) bool { return true }
