package host

import (
	"errors"
	"testing"
)

// TestDeadlockRefusesYoungest: the request refused in a cycle is the one
// made last, whichever member's wait is recorded last. alice holds A and
// asks for B; bob holds B and then asks for A. Whether bob's wait or
// alice's closes the cycle, bob is told, with the cycle seen from him, and
// alice is not.
func TestDeadlockRefusesYoungest(t *testing.T) {
	for _, bobFirst := range []bool{true, false} {
		g := newWaitGraph()
		alice, bob := NewOwner("alice"), NewOwner("bob")
		g.own("A/alice", alice)
		g.own("B/bob", bob)
		g.own("B/alice", alice) // alice's request for B
		g.own("A/bob", bob)     // bob's, made after hers

		if bobFirst {
			if err := g.waiting(bob, "A/bob", []string{"A/alice"}); err != nil {
				t.Fatalf("bob's wait alone: %v", err)
			}
			woken := g.changed()
			if err := g.waiting(alice, "B/alice", []string{"B/bob"}); err != nil {
				t.Fatalf("alice closed the cycle and was refused (%v); bob's request is the younger", err)
			}
			select {
			case <-woken:
			default:
				t.Fatal("bob was not woken to learn of the cycle")
			}
		} else if err := g.waiting(alice, "B/alice", []string{"B/bob"}); err != nil {
			t.Fatalf("alice's wait alone: %v", err)
		}
		err := g.waiting(bob, "A/bob", []string{"A/alice"})
		if !errors.Is(err, ErrDeadlock) {
			t.Fatalf("bobFirst=%v: bob's wait = %v; want ErrDeadlock", bobFirst, err)
		}
		if want := "locksmith: deadlock: bob waits for alice waits for bob"; err.Error() != want {
			t.Errorf("bobFirst=%v: %q; want %q", bobFirst, err, want)
		}
		// With bob's wait withdrawn, alice's is no cycle.
		if err := g.waiting(alice, "B/alice", []string{"B/bob"}); err != nil {
			t.Errorf("bobFirst=%v: alice's wait after bob was refused: %v", bobFirst, err)
		}
	}
}

// TestDeadlockConversionAgesFromItsStart: a conversion's age counts from
// when it began, not from when its entry was first granted.
func TestDeadlockConversionAgesFromItsStart(t *testing.T) {
	g := newWaitGraph()
	a, b, c := NewOwner("a"), NewOwner("b"), NewOwner("c")
	g.own("R/a", a) // a's old lock, upgraded last
	g.own("R/b", b)
	g.own("S/b", b)
	g.own("S/c", c)
	g.own("T/c", c)
	g.own("T/a", a)
	// a: upgrading R waits for b's R; b waits for c's S; c waits for a's T.
	if err := g.waiting(b, "S/b", []string{"S/c"}); err != nil {
		t.Fatal(err)
	}
	if err := g.waiting(c, "T/c", []string{"T/a"}); err != nil {
		t.Fatal(err)
	}
	g.started("R/a")
	err := g.waiting(a, "R/a", []string{"R/b"})
	if !errors.Is(err, ErrDeadlock) {
		t.Fatalf("the youngest (the upgrade) = %v; want ErrDeadlock", err)
	}
	if want := "locksmith: deadlock: a waits for b waits for c waits for a"; err.Error() != want {
		t.Errorf("%q; want %q", err, want)
	}
	if err := g.waiting(b, "S/b", []string{"S/c"}); err != nil {
		t.Errorf("b after the cycle was broken: %v", err)
	}
}

// TestDeadlockMarkClearedWhenWaitEnds: a member marked for refusal whose
// wait ends first (granted, or given up) is not refused later.
func TestDeadlockMarkClearedWhenWaitEnds(t *testing.T) {
	g := newWaitGraph()
	alice, bob := NewOwner("alice"), NewOwner("bob")
	g.own("A/alice", alice)
	g.own("B/bob", bob)
	g.own("B/alice", alice)
	g.own("A/bob", bob)
	if err := g.waiting(bob, "A/bob", []string{"A/alice"}); err != nil {
		t.Fatal(err)
	}
	if err := g.waiting(alice, "B/alice", []string{"B/bob"}); err != nil {
		t.Fatal(err)
	}
	g.stopped(bob)
	g.disown("A/bob")
	g.own("C/bob", bob)
	if err := g.waiting(bob, "C/bob", []string{"C/other"}); err != nil {
		t.Errorf("a later wait of bob's was refused: %v", err)
	}
}
