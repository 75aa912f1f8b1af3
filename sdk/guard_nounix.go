//go:build !unix

package sdk

// canGuard says whether process groups can be guarded on this platform:
// there are no process groups to kill here.
const canGuard = false

func ownGroups(int) (own, host int) { return 0, 0 }

func killGroup(int) {}
