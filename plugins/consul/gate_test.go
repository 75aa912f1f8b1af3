package consul

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestGateOneAtATime(t *testing.T) {
	g := newGates()
	leave, err := g.enter(context.Background(), "r")
	if err != nil {
		t.Fatal(err)
	}
	other, err := g.enter(context.Background(), "other")
	if err != nil {
		t.Fatalf("another resource's gate: %v", err)
	}
	other()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.enter(ctx, "r"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second enter while held: %v, want the context's error", err)
	}
	entered := make(chan func(), 1)
	go func() {
		l, err := g.enter(context.Background(), "r")
		if err != nil {
			t.Error(err)
		}
		entered <- l
	}()
	leave()
	select {
	case l := <-entered:
		l()
	case <-time.After(5 * time.Second):
		t.Fatal("a waiter did not enter after the gate was left")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.m) != 0 {
		t.Fatalf("gates left behind: %v", g.m)
	}
}
