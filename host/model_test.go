package host

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLockModel runs random sessions of acquires, conversions, releases,
// abandoned waits and timeouts from several actors on three hosts (three
// plugin processes) against a reference model of the lock rules, and
// checks after every step that the hosts did what the model says. Set
// LOCKSMITH_MODEL_SEED to replay a run and LOCKSMITH_MODEL_STEPS to change
// its length.
func TestLockModel(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("LOCKSMITH_MODEL_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("LOCKSMITH_MODEL_SEED=%q: %v", s, err)
		}
		seed = n
	}
	steps := 500
	if testing.Short() {
		steps = 150
	}
	if s := os.Getenv("LOCKSMITH_MODEL_STEPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("LOCKSMITH_MODEL_STEPS=%q: want a positive number", s)
		}
		steps = n
	}
	dir := t.TempDir()
	runLockModel(t, func(t *testing.T) *Host { return newTestHost(t, dir) }, seed, steps)
}

// Shape of a model run.
const (
	modelHosts       = 3
	modelActorsEach  = 3
	modelModeQueues  = 2 // then one semaphore
	modelReturnLimit = 10 * time.Second
)

// runLockModel drives hosts made by newHost (they must share one store, as
// separate processes would) through steps random operations from a PRNG
// seeded with seed, comparing them after every step with the reference
// model of model_ref_test.go. What it checks is listed on quiesce.
//
// Actors take resources in one canonical order and convert only the last
// one they hold, so the only wait-for cycles possible are conversions on
// one resource, which the host must refuse with ErrDeadlock.
func runLockModel(t *testing.T, newHost func(t *testing.T) *Host, seed int64, steps int) {
	t.Logf("model seed %d, %d steps (replay with LOCKSMITH_MODEL_SEED=%d LOCKSMITH_MODEL_STEPS=%d)", seed, steps, seed, steps)
	m := newLockModel(t, newHost, seed)
	start := time.Now()
	for m.step = 1; m.step <= steps; m.step++ {
		m.next()
		m.quiesce()
	}
	m.finish()
	t.Logf("model: %d steps in %s: %s", steps, time.Since(start).Round(time.Millisecond), m.tally)
}

type opKind int

const (
	opAcquire opKind = iota + 1
	opConvert
)

// modelOp is an operation an actor has in flight.
type modelOp struct {
	actor     *modelActor
	kind      opKind
	q         *refQueue
	qi        int
	req       *refReq     // acquire: the new request; convert: the lease's
	ml        *modelLease // convert
	mode      Mode        // acquire: the mode asked; convert: the target
	from      Mode        // convert: the mode before
	noWait    bool
	timeout   time.Duration
	outcome   refOutcome // convert: what the model said at once
	waited    bool       // acquire: the model did not grant it at once
	cancel    context.CancelFunc
	abandoned bool
}

func (op *modelOp) String() string {
	a := fmt.Sprintf("actor %d (host %d)", op.actor.id, op.actor.host)
	var s string
	switch op.kind {
	case opAcquire:
		s = fmt.Sprintf("%s acquire %s %s as #%d", a, op.q.name, op.mode, op.req.id)
		if op.noWait {
			s += " NoWait"
		}
	case opConvert:
		s = fmt.Sprintf("%s convert #%d on %s %s->%s (model: %s)", a, op.req.id, op.q.name, op.from, op.mode, op.outcome)
	}
	if op.timeout > 0 {
		s += " timeout " + op.timeout.String()
	}
	return s
}

type modelResult struct {
	op    *modelOp
	lease *Lease
	err   error
}

// modelLease is a lease an actor holds, as the actor knows it.
type modelLease struct {
	lease     *Lease
	q         *refQueue
	qi        int
	req       *refReq
	mode      Mode // the mode the actor holds
	grantMode Mode // the mode it was granted in
}

type modelActor struct {
	id, host int
	held     []*modelLease // by resource index
	op       *modelOp
}

// heldModes are the modes ml may hold from its actor's point of view: its
// mode, or while a conversion the model has done is still on its way back,
// its old and its new mode — the store switches from one to the other at a
// moment the actor does not see. A pending upgrade holds its old mode.
func (a *modelActor) heldModes(ml *modelLease) []Mode {
	op := a.op
	if op != nil && op.kind == opConvert && op.ml == ml && op.outcome != refDeadlock && op.req.target == 0 {
		return []Mode{op.from, op.mode}
	}
	return []Mode{ml.mode}
}

// canHold reports whether leases that may hold modes x and y can be held
// together: some pair of the modes they may hold is compatible.
func canHold(x, y []Mode) bool {
	for _, mx := range x {
		for _, my := range y {
			if refCompatible(mx, my) && refCompatible(my, mx) {
				return true
			}
		}
	}
	return false
}

// modelCounts is what a host's Metrics must say at the end.
type modelCounts struct {
	acquisitions, failures, conflicts, timeouts, conversions, releases uint64
}

type lockModel struct {
	t       *testing.T
	seed    int64
	rng     *rand.Rand
	hosts   []*Host
	actors  []*modelActor
	queues  []*refQueue
	ctx     context.Context // driver calls and actors' operations
	stop    context.CancelFunc
	wg      sync.WaitGroup
	results chan modelResult
	step    int
	nextID  int
	history []string
	// maxToken is the highest token of a fresh grant seen per resource.
	maxToken map[*refQueue]int64
	counts   []modelCounts
	tally    modelTally
}

// modelTally counts what a run did, for its log.
type modelTally struct {
	grants, waits, conflicts, timeouts, abandoned, releases int
	downgrades, upgrades, pendingUpgrades, deadlocks        int
}

func (t modelTally) String() string {
	return fmt.Sprintf("%d grants (%d after waiting), %d conflicts, %d timeouts, %d abandoned, %d releases, "+
		"%d downgrades, %d upgrades (%d waited), %d upgrade deadlocks",
		t.grants, t.waits, t.conflicts, t.timeouts, t.abandoned, t.releases,
		t.downgrades, t.upgrades, t.pendingUpgrades, t.deadlocks)
}

func newLockModel(t *testing.T, newHost func(t *testing.T) *Host, seed int64) *lockModel {
	m := &lockModel{t: t, seed: seed, rng: rand.New(rand.NewPCG(uint64(seed), 0x10c4)),
		results: make(chan modelResult, modelHosts*modelActorsEach), maxToken: map[*refQueue]int64{},
		counts: make([]modelCounts, modelHosts)}
	for i := 0; i < modelHosts; i++ {
		m.hosts = append(m.hosts, newHost(t))
	}
	// Registered after the hosts, so it runs before they close: no
	// operation may still be waiting when they do.
	m.ctx, m.stop = context.WithCancel(context.Background())
	t.Cleanup(func() {
		m.stop()
		m.wg.Wait()
	})
	for i := 0; i < modelHosts*modelActorsEach; i++ {
		m.actors = append(m.actors, &modelActor{id: i, host: i % modelHosts})
	}
	// Unique names, so runs can share a store.
	prefix := "model-" + randomID() + "/"
	for i := 0; i < modelModeQueues; i++ {
		m.queues = append(m.queues, &refQueue{name: prefix + "m" + strconv.Itoa(i)})
	}
	m.queues = append(m.queues, &refQueue{name: prefix + "sem", limit: 2 + int(uint64(seed)%2)})
	return m
}

func (m *lockModel) logf(format string, args ...any) {
	m.history = append(m.history, fmt.Sprintf("step %d: ", m.step)+fmt.Sprintf(format, args...))
	if len(m.history) > 40 {
		m.history = m.history[len(m.history)-40:]
	}
}

// fail ends the run with what went wrong, the recent history and the
// model's state.
func (m *lockModel) fail(format string, args ...any) {
	m.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "step %d (seed %d): ", m.step, m.seed)
	fmt.Fprintf(&b, format, args...)
	b.WriteString("\nrecent steps:")
	for _, h := range m.history {
		b.WriteString("\n  " + h)
	}
	b.WriteString("\nmodel:")
	for _, q := range m.queues {
		b.WriteString("\n  " + q.String())
	}
	m.t.Fatal(b.String())
}

// next makes one random step.
func (m *lockModel) next() {
	busy := 0
	for _, a := range m.actors {
		if a.op != nil {
			busy++
		}
	}
	if busy == len(m.actors) {
		m.fail("every actor waits and the model grants none of them: a wait-for cycle the host did not refuse")
	}
	for {
		a := m.actors[m.rng.IntN(len(m.actors))]
		if a.op != nil {
			if m.rng.IntN(4) == 0 {
				m.abandon(a)
				return
			}
			continue
		}
		var higher []int // resources it may take: above all it holds
		top := -1
		if n := len(a.held); n > 0 {
			top = a.held[n-1].qi
		}
		for qi := top + 1; qi < len(m.queues); qi++ {
			higher = append(higher, qi)
		}
		canConvert := top >= 0 && m.queues[top].limit == 0
		switch r := m.rng.IntN(100); {
		case len(a.held) > 0 && (r < 35 || (len(higher) == 0 && !canConvert)):
			m.release(a, a.held[m.rng.IntN(len(a.held))])
		case canConvert && (r < 70 || len(higher) == 0):
			ml := a.held[len(a.held)-1]
			to := ml.mode
			for to == ml.mode {
				to = refModes[m.rng.IntN(len(refModes))]
			}
			var timeout time.Duration
			if m.rng.IntN(5) == 0 {
				timeout = m.shortTimeout()
			}
			m.convert(a, ml, to, timeout)
		default:
			qi := higher[m.rng.IntN(len(higher))]
			mode := Shared
			if m.queues[qi].limit == 0 {
				mode = refModes[m.rng.IntN(len(refModes))]
			}
			var noWait bool
			var timeout time.Duration
			switch m.rng.IntN(10) {
			case 0, 1:
				noWait = true
			case 2, 3:
				timeout = m.shortTimeout()
			}
			m.acquire(a, qi, mode, noWait, timeout)
		}
		return
	}
}

// shortTimeout is a deadline a wait reaches, but a grant beats.
func (m *lockModel) shortTimeout() time.Duration {
	return time.Duration(150+m.rng.IntN(150)) * time.Millisecond
}

// settle lets the model grant what its rules grant on q.
func (m *lockModel) settle(q *refQueue) (granted, converted []*refReq) {
	m.t.Helper()
	granted, converted, err := q.settle()
	if err != nil {
		m.fail("%v", err)
	}
	return granted, converted
}

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

// finish abandons every wait and releases every lease; the store must
// then be empty and the hosts' metrics must add up.
func (m *lockModel) finish() {
	m.step++
	for _, a := range m.actors {
		if a.op != nil { // it may have been granted by an earlier withdrawal
			m.abandon(a)
			m.quiesce()
		}
	}
	for _, a := range m.actors {
		for len(a.held) > 0 {
			m.release(a, a.held[len(a.held)-1])
		}
	}
	m.quiesce()
	for _, q := range m.queues {
		if len(q.reqs) != 0 {
			m.fail("requests left on %s after every lease was released", q.name)
		}
	}
	for i, h := range m.hosts {
		got, want := h.Metrics(), m.counts[i]
		if got.Active != 0 || got.LostLeases != 0 || got.Acquisitions != want.acquisitions ||
			got.Failures != want.failures || got.Conflicts != want.conflicts || got.Timeouts != want.timeouts ||
			got.Deadlocks != 0 || got.Conversions != want.conversions || got.Releases != want.releases {
			m.fail("host %d metrics %+v, want %+v and nothing active, lost or deadlocked", i, got, want)
		}
	}
}
