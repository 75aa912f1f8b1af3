package server

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimiters bounds the principals (and addresses) tracked at once; past
// it the idlest are forgotten (and start again with a full burst).
const maxLimiters = 10000

// limiter keeps one token bucket per principal.
type limiter struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time
}

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{rate: rate.Limit(perSecond), burst: burst, buckets: map[string]*bucket{}}
}

// allow takes one request of who's budget. When none is left it reports
// false and how long until one is.
func (l *limiter) allow(who string) (time.Duration, bool) {
	if l.rate <= 0 {
		return 0, true
	}
	now := time.Now()
	l.mu.Lock()
	b := l.buckets[who]
	if b == nil {
		if len(l.buckets) >= maxLimiters {
			l.evictLocked()
		}
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[who] = b
	}
	b.used = now
	l.mu.Unlock()
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return time.Second, false
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// evictLocked forgets the buckets idle for a minute (which are full again
// anyway), or all of them if every one is busy.
func (l *limiter) evictLocked() {
	now := time.Now()
	for who, b := range l.buckets {
		if now.Sub(b.used) > time.Minute {
			delete(l.buckets, who)
		}
	}
	if len(l.buckets) >= maxLimiters {
		clear(l.buckets)
	}
}
