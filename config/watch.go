package config

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settle is how long Watch waits after a change for more of them: an
// editor's save is often several (write, chmod, rename), and one reload
// should follow.
const settle = 100 * time.Millisecond

// Watch calls changed each time the file at path is written, created or
// replaced (editors often save by writing a new file and renaming it over
// the old one, so the directory is watched, not the file), once per burst
// of changes. It blocks until ctx ends, and returns ctx's error then, or
// the watcher's error if watching fails. changed runs on Watch's
// goroutine, one call at a time.
func Watch(ctx context.Context, path string, changed func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config file %s: %w", path, err)
	}
	defer w.Close()
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("watch config file %s: %w", path, err)
	}
	if err := w.Add(filepath.Dir(abs)); err != nil {
		return fmt.Errorf("watch config file %s: %w", path, err)
	}
	timer := time.NewTimer(0)
	<-timer.C
	pending := false
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Clean(ev.Name) != abs || !ev.Has(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Chmod) {
				continue
			}
			if pending && !timer.Stop() {
				<-timer.C
			}
			timer.Reset(settle)
			pending = true
		case <-timer.C:
			pending = false
			changed()
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			return fmt.Errorf("watch config file %s: %w", path, err)
		}
	}
}
