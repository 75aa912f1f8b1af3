package host

import (
	"context"
	"errors"
	"time"
)

// The steps of a model run: each updates the model, calls the host and
// checks what comes back.

// acquire has a ask for a lock on queue qi: NoWait, with a short timeout,
// or waiting as long as it takes. The model decides at once whether it is
// granted; a call the model says returns now, or that times out, is
// awaited, a waiting one left in flight.
func (m *lockModel) acquire(a *modelActor, qi int, mode Mode, noWait bool, timeout time.Duration) {
	q := m.queues[qi]
	m.nextID++
	r := &refReq{id: m.nextID, mode: mode, limit: q.limit}
	q.reqs = append(q.reqs, r)
	granted, converted := m.settle(q)
	if len(converted) > 0 || len(granted) > 1 || (len(granted) == 1 && granted[0] != r) {
		m.fail("reference model: a new request at the end of %s changed other requests: granted %v, converted %v", q.name, granted, converted)
	}
	op := &modelOp{actor: a, kind: opAcquire, q: q, qi: qi, req: r, mode: mode, noWait: noWait, timeout: timeout, waited: !r.granted}
	if noWait && !r.granted {
		q.remove(r) // it is withdrawn before Acquire returns
	}
	m.logf("%s: model says %s", op, map[bool]string{true: "granted", false: "waits"}[r.granted])
	opts := []LockOption{WithMode(mode)}
	if q.limit > 0 {
		opts = append(opts, WithLimit(q.limit))
	}
	if noWait {
		opts = append(opts, NoWait())
	}
	h := m.hosts[a.host]
	m.launch(op, func(ctx context.Context) (*Lease, error) { return h.Named(ctx, q.name, opts...) })
	if r.granted || noWait || timeout > 0 {
		m.await(op)
	}
}

// convert has a convert its lease ml to mode to. A conversion the model
// does or refuses at once is awaited; a pending upgrade is left in flight
// unless it has a short timeout.
func (m *lockModel) convert(a *modelActor, ml *modelLease, to Mode, timeout time.Duration) {
	q := ml.q
	op := &modelOp{actor: a, kind: opConvert, q: q, qi: ml.qi, req: ml.req, ml: ml, mode: to, from: ml.mode, timeout: timeout}
	op.outcome = q.convert(ml.req, to)
	// A conversion done at once may let waiters in, and may stop blocking
	// a pending upgrade; one that waits or is refused changes nothing.
	granted, converted := m.settle(q)
	if op.outcome != refConverted && len(granted)+len(converted) > 0 {
		m.fail("reference model: converting #%d %s->%s on %s (%s) granted %v and completed %v",
			ml.req.id, op.from, to, q.name, op.outcome, granted, converted)
	}
	m.logf("%s; model grants %v, completes %v", op, granted, converted)
	m.launch(op, func(ctx context.Context) (*Lease, error) { return nil, ml.lease.Convert(ctx, to) })
	if op.outcome != refPending || timeout > 0 {
		m.await(op)
	}
}

// release has a release ml; the model grants what that lets through.
func (m *lockModel) release(a *modelActor, ml *modelLease) {
	m.logf("actor %d (host %d) release #%d on %s (%s)", a.id, a.host, ml.req.id, ml.q.name, ml.mode)
	for i, o := range a.held {
		if o == ml {
			a.held = append(a.held[:i:i], a.held[i+1:]...)
		}
	}
	ml.q.remove(ml.req)
	granted, converted := m.settle(ml.q)
	m.logf("  model grants %v, completes %v", granted, converted)
	ctx, cancel := context.WithTimeout(m.ctx, modelReturnLimit)
	defer cancel()
	if err := ml.lease.Release(ctx); err != nil {
		m.fail("release #%d on %s: %v", ml.req.id, ml.q.name, err)
	}
	m.counts[a.host].releases++
	m.tally.releases++
}

// abandon cancels the wait of a's operation.
func (m *lockModel) abandon(a *modelActor) {
	op := a.op
	m.logf("cancel %s", op)
	op.abandoned = true
	op.cancel()
	m.await(op)
}

// launch runs op's call on its own goroutine; its result comes back on
// m.results.
func (m *lockModel) launch(op *modelOp, call func(context.Context) (*Lease, error)) {
	ctx, cancel := context.WithCancel(m.ctx)
	if op.timeout > 0 {
		ctx, cancel = context.WithTimeout(m.ctx, op.timeout)
	}
	op.cancel = cancel
	op.actor.op = op
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		l, err := call(ctx)
		m.results <- modelResult{op: op, lease: l, err: err}
	}()
}

// await processes results until op's has come. If op gives up a wait
// (cancelled, or timing out), what its withdrawal lets through may return
// before op does: those results are taken after op's, when the model has
// withdrawn it too.
func (m *lockModel) await(op *modelOp) {
	m.t.Helper()
	timer := time.NewTimer(modelReturnLimit)
	defer timer.Stop()
	var later []modelResult
	for op.actor.op == op {
		select {
		case res := <-m.results:
			if res.op != op && (op.abandoned || op.timeout > 0) {
				later = append(later, res)
				continue
			}
			m.process(res)
		case <-timer.C:
			m.fail("%s did not return within %s", op, modelReturnLimit)
		}
	}
	for _, res := range later {
		m.process(res)
	}
}

// process takes an operation's result and checks it against the model.
func (m *lockModel) process(res modelResult) {
	m.t.Helper()
	op := res.op
	op.actor.op = nil
	op.cancel()
	switch op.kind {
	case opAcquire:
		m.processAcquire(op, res.lease, res.err)
	case opConvert:
		m.processConvert(op, res.err)
	}
}

func (m *lockModel) processAcquire(op *modelOp, l *Lease, err error) {
	m.t.Helper()
	a, q, r := op.actor, op.q, op.req
	c := &m.counts[a.host]
	switch {
	case err == nil:
		if !r.granted || !q.has(r) {
			m.fail("%s returned a lease (token %d) the model does not grant", op, l.Token())
		}
		if r.token != 0 && r.token != l.Token() {
			m.fail("%s: lease token %d, but its entry was created at %d", op, l.Token(), r.token)
		}
		r.token = l.Token()
		if l.Resource() != q.name {
			m.fail("%s: lease on %q", op, l.Resource())
		}
		ml := &modelLease{lease: l, q: q, qi: op.qi, req: r, mode: op.mode, grantMode: op.mode}
		m.checkGrant(op, ml)
		a.held = append(a.held, ml) // resources are taken in index order
		c.acquisitions++
		m.tally.grants++
		if op.waited {
			m.tally.waits++
		}
		m.logf("  %s granted (token %d)", op, l.Token())
	case errors.Is(err, ErrConflict):
		if !op.noWait || q.has(r) {
			m.fail("%s: %v, but the model grants it", op, err)
		}
		c.failures++
		c.conflicts++
		m.tally.conflicts++
	case errors.Is(err, ErrTimeout):
		if op.timeout == 0 || r.granted {
			m.fail("%s: %v, but the model grants it", op, err)
		}
		c.failures++
		c.timeouts++
		m.tally.timeouts++
		m.withdrawn(q, r)
	case errors.Is(err, context.Canceled) && op.abandoned:
		if r.granted {
			m.fail("%s: %v, but the model grants it", op, err)
		}
		c.failures++
		m.tally.abandoned++
		m.withdrawn(q, r)
	default:
		m.fail("%s: unexpected error %v", op, err)
	}
}

// withdrawn takes a request that gave up waiting out of the model.
func (m *lockModel) withdrawn(q *refQueue, r *refReq) {
	q.remove(r)
	granted, converted := m.settle(q)
	m.logf("  #%d withdrawn; model grants %v, completes %v", r.id, granted, converted)
}

func (m *lockModel) processConvert(op *modelOp, err error) {
	m.t.Helper()
	ml, q, r := op.ml, op.q, op.req
	switch {
	case err == nil:
		if op.outcome == refDeadlock || r.target != 0 || r.mode != op.mode {
			m.fail("%s returned nil, but the model has it as %s", op, r)
		}
		ml.mode = op.mode
		m.counts[op.actor.host].conversions++
		switch {
		case refWeaker(op.from, op.mode):
			m.tally.downgrades++
		case op.outcome == refPending:
			m.tally.upgrades++
			m.tally.pendingUpgrades++
		default:
			m.tally.upgrades++
		}
		m.checkHolders(q)
		m.logf("  %s done", op)
	case errors.Is(err, ErrDeadlock):
		if op.outcome != refDeadlock {
			m.fail("%s: %v", op, err)
		}
		m.tally.deadlocks++
	case errors.Is(err, ErrTimeout) && op.timeout > 0, errors.Is(err, context.Canceled) && op.abandoned:
		if op.outcome != refPending || r.target != op.mode {
			m.fail("%s: %v, but the model has it as %s", op, err, r)
		}
		q.withdraw(r)
		granted, converted := m.settle(q)
		m.logf("  upgrade of #%d withdrawn; model grants %v, completes %v", r.id, granted, converted)
		if errors.Is(err, ErrTimeout) {
			m.tally.timeouts++
		} else {
			m.tally.abandoned++
		}
	default:
		m.fail("%s: unexpected error %v", op, err)
	}
}
