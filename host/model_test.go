package host

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/internal/consultest"
	"github.com/locksmithx/locksmith/internal/redistest"
)

// TestLockModel runs random sessions of acquires, conversions, releases,
// abandoned waits and timeouts from several actors on three hosts (three
// plugin processes) against a reference model of the lock rules, and
// checks after every step that the hosts did what the model says. Set
// LOCKSMITH_MODEL_SEED to replay a run and LOCKSMITH_MODEL_STEPS to change
// its length.
func TestLockModel(t *testing.T) {
	seed, steps := modelParams(t)
	dir := t.TempDir()
	runLockModel(t, func(t *testing.T) *Host { return newTestHost(t, dir) }, seed, steps)
}

// TestLockModelRedis runs the same model on the Redis backend: three hosts,
// three plugin processes, one redis-server.
func TestLockModelRedis(t *testing.T) {
	redistest.Require(t)
	srv := redistest.Start(t)
	seed, steps := modelParams(t)
	runLockModel(t, func(t *testing.T) *Host { return newHostFrom(t, redisConfig(srv.Addr, "model:")) }, seed, steps)
}

// TestLockModelConsul runs the same model on the Consul backend: three
// hosts, three plugin processes, one Consul dev agent.
func TestLockModelConsul(t *testing.T) {
	agent := consultest.StartDev(t)
	seed, steps := modelParams(t)
	runLockModel(t, func(t *testing.T) *Host { return newHostFrom(t, consulConfig(agent.Addr, "model/")) }, seed, steps)
}

// ciModelSeed is the seed CI runs (CI=true): a fixed walk, so that a
// submission is judged on the same steps every time. Local runs explore a
// new walk each time.
const ciModelSeed = 20261127

// modelParams is a model run's seed (LOCKSMITH_MODEL_SEED, else
// ciModelSeed under CI, else the clock) and length (LOCKSMITH_MODEL_STEPS,
// else 500, or 150 with -short).
func modelParams(t *testing.T) (int64, int) {
	t.Helper()
	seed := time.Now().UnixNano()
	if os.Getenv("CI") == "true" {
		seed = ciModelSeed
	}
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
	return seed, steps
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
		case len(a.held) > 0 && (r < 30 || (len(higher) == 0 && !canConvert)):
			m.release(a, a.held[m.rng.IntN(len(a.held))])
		case canConvert && (r < 75 || len(higher) == 0):
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
