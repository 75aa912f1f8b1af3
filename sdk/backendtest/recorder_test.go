package backendtest

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
)

// recorder is a tb that records instead of reporting, so a test can run a
// check against a broken backend and assert that the check fails.
type recorder struct {
	name string

	mu       sync.Mutex
	failed   bool
	skipped  bool
	log      []string
	cleanups []func()
}

// run runs check against e on a goroutine of its own, as testing does, so
// that Fatalf and Skipf can end it; then it runs the cleanups.
func (r *recorder) run(check func(tb, *env), e *env) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(r, e)
	}()
	<-done
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func (r *recorder) Helper()      {}
func (r *recorder) Name() string { return r.name }

func (r *recorder) Logf(format string, args ...any) { r.add("log: " + fmt.Sprintf(format, args...)) }

func (r *recorder) Errorf(format string, args ...any) {
	r.add("error: " + fmt.Sprintf(format, args...))
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.add("skip: " + fmt.Sprintf(format, args...))
	r.mu.Lock()
	r.skipped = true
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *recorder) Cleanup(f func()) {
	r.mu.Lock()
	r.cleanups = append(r.cleanups, f)
	r.mu.Unlock()
}

func (r *recorder) add(line string) {
	r.mu.Lock()
	r.log = append(r.log, line)
	r.mu.Unlock()
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.log, "\n")
}
