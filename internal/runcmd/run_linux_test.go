package runcmd

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lock is a Lock a test can lose.
type lock struct {
	done chan struct{}
	once sync.Once
	mu   sync.Mutex
	err  error
}

func newLock() *lock { return &lock{done: make(chan struct{})} }

func (l *lock) Token() int64          { return 42 }
func (l *lock) Resource() string      { return "/tmp/r" }
func (l *lock) Done() <-chan struct{} { return l.done }
func (l *lock) Lost() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *lock) lose(err error) {
	l.once.Do(func() {
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
		close(l.done)
	})
}

// The test process reaps what its commands orphan, as exec does.
func TestMain(m *testing.M) {
	if err := BecomeSubreaper(); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// options returns Options that record the guarded group.
func options(pgid *int) Options {
	return Options{
		Mode: "shared", TTL: 600 * time.Millisecond,
		Guard: func(g int) (func(), error) { *pgid = g; return func() {}, nil },
		Warn:  func(string, error) {},
	}
}

// TestRunTellsTheCommandItsLockAndPassesItsCode: the command sees its
// token, resource and mode, runs as the leader of the group it is guarded
// by, and its exit code comes back.
func TestRunTellsTheCommandItsLockAndPassesItsCode(t *testing.T) {
	out := filepath.Join(t.TempDir(), "env")
	var pgid int
	code, err := Run(newLock(), []string{"sh", "-c", `echo "$LOCKSMITH_FENCING_TOKEN $LOCKSMITH_RESOURCE $LOCKSMITH_MODE $$ $(ps -o pgid= $$)" > "$0"; exit 3`, out}, options(&pgid))
	if err != nil || code != 3 {
		t.Fatalf("Run = %d, %v; want 3, nil", code, err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(raw))
	if len(f) != 5 || f[0] != "42" || f[1] != "/tmp/r" || f[2] != "shared" {
		t.Fatalf("the command saw %q", raw)
	}
	if f[3] != f[4] || f[3] != strconv.Itoa(pgid) {
		t.Fatalf("command pid %s in group %s, guarded group %d: want one group led by the command", f[3], f[4], pgid)
	}
	if code, err := Run(newLock(), []string{"/nonexistent/command"}, options(&pgid)); code != 127 || err == nil {
		t.Fatalf("a missing command: %d, %v; want 127 and why", code, err)
	}
}

// TestRunLeavesNothingOfTheGroup: what the command leaves running in its
// group is stopped before Run returns (and so before the lock is
// released).
func TestRunLeavesNothingOfTheGroup(t *testing.T) {
	bg := filepath.Join(t.TempDir(), "bg")
	var pgid int
	code, err := Run(newLock(), []string{"sh", "-c", `sleep 60 & echo $! > "$0"`, bg}, options(&pgid))
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v", code, err)
	}
	raw, _ := os.ReadFile(bg)
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("background pid %q", raw)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("the command's background process %d still exists after Run (kill -0: %v)", pid, err)
	}
}

// TestRunStopsTheCommandWhenTheLockIsLost: a lost lock sends SIGTERM to
// the group at once and SIGKILL after the grace a sixth of the TTL gives,
// and Run says the lock was lost.
func TestRunStopsTheCommandWhenTheLockIsLost(t *testing.T) {
	l := newLock()
	ready := filepath.Join(t.TempDir(), "ready")
	go func() {
		for range 2000 {
			if _, err := os.Stat(ready); err == nil {
				l.lose(errors.New("lock lost: session expired"))
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var pgid int
	start := time.Now()
	// The command ignores SIGTERM: only the SIGKILL ends it.
	code, err := Run(l, []string{"sh", "-c", `trap '' TERM; touch "$0"; while :; do sleep 0.05; done`, ready}, options(&pgid))
	if code != 128+int(syscall.SIGKILL) || err == nil || !strings.Contains(err.Error(), "session expired") {
		t.Fatalf("Run after a loss = %d, %v; want %d and the loss's cause", code, err, 128+int(syscall.SIGKILL))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the command outlived its lost lock by %v", d)
	}
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("group %d still exists after Run (kill -0: %v)", pgid, err)
	}
}
