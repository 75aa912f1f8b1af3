package pidwatch

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

// TestExitOfChild: a watch on a running child is not done until the child
// is killed, and then is, before anyone reaps the child.
func TestExitOfChild(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("pidfd is Linux only")
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	w, err := Start(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	select {
	case <-w.Done():
		t.Fatal("done while the child runs")
	case <-time.After(100 * time.Millisecond):
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("not done 10s after the child was killed")
	}
}

// TestStopEndsWatch: Stop makes Done fire, and can be called twice.
func TestStopEndsWatch(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("pidfd is Linux only")
	}
	w, err := Start(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()
	w.Stop()
	select {
	case <-w.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not end the watch")
	}
}

// TestGoneProcess: a pid of a reaped child is os.ErrProcessDone.
func TestGoneProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("pidfd is Linux only")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	// The pid may have been reused already; only a clean ESRCH is checked.
	if _, err := Start(cmd.Process.Pid); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("err = %v; want os.ErrProcessDone", err)
	}
	if _, err := Start(0); !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("Start(0) = %v; want os.ErrProcessDone", err)
	}
}
