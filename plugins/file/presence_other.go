//go:build !linux

package file

import "os"

// Without open file description locks there is no presence mark: every
// state file counts as watched and is never removed.

func setPresence(*os.File, bool) {}

func watchedElsewhere(*os.File) bool { return true }
