//go:build !unix

package main

import (
	"os"
	"time"
)

// Without process groups, exec signals and stops its command alone.
const leftoverGrace = 2 * time.Second

func signalGroup(int, os.Signal) {}

func stopGroup(int, time.Duration) bool { return true }
