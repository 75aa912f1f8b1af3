//go:build !linux

package file

import "github.com/hashicorp/go-hclog"

// Without futexes there are no cross-process wake-ups: watches see other
// processes' changes by polling (poll_interval), their own at once.
type wakeTable struct{}

func openWakeTable(string, hclog.Logger) *wakeTable { return nil }

func (w *wakeTable) ring(string) {}

func (w *wakeTable) working() bool { return false }

func (w *wakeTable) subscribe(*stateFile) func() { return func() {} }

func (w *wakeTable) subscribeKeys(*stateFile, []string) func() { return func() {} }

func keyWord(path, key string) string { return path + "\x00" + key }

func everyWord(path string) string { return path + "\x00\x00" }

func (w *wakeTable) close() {}
