// Package host is Locksmith's lock engine. It owns what a lock means —
// modes and their compatibility, FIFO queueing, watch-driven handoff,
// sessions and lease renewal, fencing tokens and lost-lock delivery — and
// builds it on a backend plugin: a leased, revisioned key-value store that
// runs as its own process, started and supervised by the host.
//
// A lock request is an entry <session>/<request> in the resource's store;
// its create revision is both its place in the queue and its fencing token.
// A request is granted when it is compatible with every request ahead of it,
// so readers behind a waiting writer wait and no writer starves. A waiter is
// woken by the backend's watch when something ahead of it goes away.
//
// The host opens one session per backend and renews the session, never lock
// by lock. When the session cannot be renewed in time, or the backend
// plugin dies, every lease on it is reported lost: its Context is cancelled
// and Lost says why.
package host
