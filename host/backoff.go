package host

import (
	"math/rand/v2"
	"time"
)

// Backoff says how long to wait before each retry. The host only polls —
// and so only uses a Backoff — for backends that cannot watch; with a
// watch, a waiter is woken by the change itself.
type Backoff interface {
	// Delay is the wait before retry number attempt (0 for the first).
	Delay(attempt int) time.Duration
}

// Exponential doubles the delay from Min up to Max.
type Exponential struct{ Min, Max time.Duration }

// Delay implements Backoff.
func (e Exponential) Delay(attempt int) time.Duration {
	d := e.Min << min(attempt, 30)
	if d <= 0 || d > e.Max {
		return e.Max
	}
	return d
}

// Linear grows the delay by Step per attempt up to Max.
type Linear struct{ Step, Max time.Duration }

// Delay implements Backoff.
func (l Linear) Delay(attempt int) time.Duration {
	return min(l.Step*time.Duration(attempt+1), l.Max)
}

// Jitter spreads another backoff's delay d uniformly over [d/2, d), so
// that many waiters do not poll in step.
type Jitter struct{ Backoff Backoff }

// Delay implements Backoff.
func (j Jitter) Delay(attempt int) time.Duration {
	d := j.Backoff.Delay(attempt)
	if d < 2 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// defaultBackoff polls from 5 ms, doubling to 500 ms, with jitter.
var defaultBackoff Backoff = Jitter{Exponential{Min: 5 * time.Millisecond, Max: 500 * time.Millisecond}}

// Interface guards.
var (
	_ Backoff = Exponential{}
	_ Backoff = Linear{}
	_ Backoff = Jitter{}
)
