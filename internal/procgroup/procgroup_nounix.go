//go:build !unix

package procgroup

// Exists is false: there are no process groups here.
func Exists(int) bool { return false }

// Runs is false: there are no process groups here.
func Runs(int) bool { return false }
