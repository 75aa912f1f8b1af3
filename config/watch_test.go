package config

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWatchSeesWritesAndRenames(t *testing.T) {
	p := writeFile(t, "backend: file\n")
	ctx, cancel := context.WithCancel(context.Background())
	changes := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() { done <- Watch(ctx, p, func() { changes <- struct{}{} }) }()
	defer func() {
		cancel()
		<-done
	}()
	// The watch may not be in place yet: write until it is seen.
	seen := func(write func()) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			write()
			select {
			case <-changes:
				return
			case <-time.After(500 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatal("no change seen within 10s")
			}
		}
	}
	seen(func() {
		if err := os.WriteFile(p, []byte("backend: redis\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	seen(func() {
		tmp := filepath.Join(filepath.Dir(p), "new.yaml")
		if err := os.WriteFile(tmp, []byte("backend: file\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
	})
	// Another file in the directory is not the config.
	if err := os.WriteFile(filepath.Join(filepath.Dir(p), "other"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
		t.Fatal("a change to another file was reported")
	case <-time.After(3 * settle):
	}
}
