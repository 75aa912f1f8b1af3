//go:build !unix

package host

// ownProcessGroup is 0: there are no process groups here, and a plugin
// refuses to guard any.
func ownProcessGroup() int { return 0 }
