package host

import (
	"reflect"
	"testing"

	"github.com/locksmithx/locksmith/sdk"
)

// Short names for the modes in the tables below.
const (
	S, X, U     = Shared, Exclusive, Update
	IS, IX, SIX = IntentShared, IntentExclusive, SharedIntentExclusive
)

// qr describes one request of a test queue.
type qr struct {
	key      string
	mode     Mode
	pinned   bool
	target   Mode
	blockers []string
	limit    int
}

// entry is r as the store holds it, created at revision rev.
func (r qr) entry(rev int64) sdk.Entry {
	info := requestInfo{Mode: r.mode.String(), Pinned: r.pinned, Blockers: r.blockers, Limit: r.limit}
	if r.target != 0 {
		info.Target = r.target.String()
	}
	return sdk.Entry{Key: r.key, Value: encodeRequest(info), Session: "s-" + r.key, CreateRev: rev, ModRev: rev}
}

// mkQueue builds a queue from rs, in that order; the entries are handed to
// newQueue reversed, so that it must order them itself.
func mkQueue(rs ...qr) queue {
	es := make([]sdk.Entry, len(rs))
	for i, r := range rs {
		es[len(rs)-1-i] = r.entry(int64(10 * (i + 1)))
	}
	return newQueue(es)
}

// blockerKeys are the keys of the requests that keep key from its grant.
func blockerKeys(q queue, key string) []string {
	var out []string
	for _, j := range q.blockers(q.index(key)) {
		out = append(out, q[j].Key)
	}
	return out
}

func TestQueueGrants(t *testing.T) {
	for _, tc := range []struct {
		name string
		q    []qr
		// want maps each key to the keys that block it; nil: granted.
		want map[string][]string
	}{
		{"lone writer", []qr{{key: "a", mode: X}},
			map[string][]string{"a": nil}},
		{"readers share", []qr{{key: "a", mode: S}, {key: "b", mode: S}, {key: "c", mode: S}},
			map[string][]string{"a": nil, "b": nil, "c": nil}},
		{"writer waits for readers ahead", []qr{{key: "a", mode: S}, {key: "b", mode: S}, {key: "w", mode: X}},
			map[string][]string{"a": nil, "b": nil, "w": {"a", "b"}}},
		{"reader behind a waiting writer waits for it (FIFO)", []qr{{key: "a", mode: S}, {key: "w", mode: X}, {key: "r", mode: S}},
			map[string][]string{"a": nil, "w": {"a"}, "r": {"w"}}},
		{"readers behind a writer wait only for it", []qr{{key: "w", mode: X}, {key: "r1", mode: S}, {key: "r2", mode: S}},
			map[string][]string{"w": nil, "r1": {"w"}, "r2": {"w"}}},
		{"two updaters never coexist, readers join them", []qr{{key: "u1", mode: U}, {key: "r", mode: S}, {key: "u2", mode: U}},
			map[string][]string{"u1": nil, "r": nil, "u2": {"u1"}}},
		{"update after readers", []qr{{key: "r", mode: S}, {key: "u", mode: U}},
			map[string][]string{"r": nil, "u": nil}},
		{"intention modes", []qr{{key: "is", mode: IS}, {key: "ix", mode: IX}, {key: "s", mode: S}, {key: "is2", mode: IS}},
			map[string][]string{"is": nil, "ix": nil, "s": {"ix"}, "is2": nil}},
		{"SIX admits only IS", []qr{{key: "six", mode: SIX}, {key: "is", mode: IS}, {key: "ix", mode: IX}, {key: "s", mode: S}},
			map[string][]string{"six": nil, "is": nil, "ix": {"six"}, "s": {"six", "ix"}}},
		{"exclusive blocks intention", []qr{{key: "x", mode: X}, {key: "is", mode: IS}},
			map[string][]string{"x": nil, "is": {"x"}}},
		{"pinned holds by right, wherever it stands", []qr{{key: "w", mode: X}, {key: "p", mode: S, pinned: true}},
			map[string][]string{"w": {"p"}, "p": nil}},
		{"pending upgrade: its blockers keep their grant, newcomers check its target",
			[]qr{{key: "a", mode: S}, {key: "up", mode: S, pinned: true, target: X, blockers: []string{"a"}}, {key: "r", mode: S}},
			map[string][]string{"a": nil, "up": nil, "r": {"up"}}},
		{"pending upgrade blocks a granted request it does not wait for",
			[]qr{{key: "up", mode: IS, pinned: true, target: IX, blockers: []string{"s"}}, {key: "s", mode: S}, {key: "is", mode: IS}},
			map[string][]string{"up": nil, "s": nil, "is": nil}},
		{"completed upgrade blocks requests ahead of it",
			[]qr{{key: "r", mode: S}, {key: "x", mode: X, pinned: true}},
			map[string][]string{"r": {"x"}, "x": nil}},
		{"semaphore: limit requests ahead hold every slot",
			[]qr{{key: "a", mode: S, limit: 2}, {key: "b", mode: S, limit: 2}, {key: "c", mode: S, limit: 2}, {key: "d", mode: S, limit: 2}},
			map[string][]string{"a": nil, "b": nil, "c": {"a", "b"}, "d": {"a", "b", "c"}}},
		{"semaphore of one is a mutex", []qr{{key: "a", mode: S, limit: 1}, {key: "b", mode: S, limit: 1}},
			map[string][]string{"a": nil, "b": {"a"}}},
		{"semaphore waiter blocked by a conflict names only it",
			[]qr{{key: "w", mode: X}, {key: "a", mode: S, limit: 3}},
			map[string][]string{"w": nil, "a": {"w"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := mkQueue(tc.q...)
			for _, r := range tc.q {
				got := blockerKeys(q, r.key)
				if !reflect.DeepEqual(got, tc.want[r.key]) {
					t.Errorf("%s blocked by %v, want %v (queue %v)", r.key, got, tc.want[r.key], q)
				}
				if g := q.granted(r.key); g != (tc.want[r.key] == nil) {
					t.Errorf("granted(%s) = %v", r.key, g)
				}
			}
		})
	}
}

// TestQueueFIFOHandoff: as requests leave, the next compatible run is
// granted, in creation order, and a semaphore slot passes to the next.
func TestQueueFIFOHandoff(t *testing.T) {
	q := mkQueue(qr{key: "w1", mode: X}, qr{key: "r1", mode: S}, qr{key: "r2", mode: S}, qr{key: "w2", mode: X}, qr{key: "r3", mode: S})
	steps := []struct {
		leave   string
		granted []string
	}{
		{"", []string{"w1"}},
		{"w1", []string{"r1", "r2"}},
		{"r1", []string{"r2"}},
		{"r2", []string{"w2"}},
		{"w2", []string{"r3"}},
	}
	rev := int64(100)
	for _, st := range steps {
		if st.leave != "" {
			rev++
			q = q.apply(sdk.Event{Type: sdk.EventDelete, Rev: rev, Entry: sdk.Entry{Key: st.leave}})
		}
		var got []string
		for i := range q {
			if q.grantedAt(i) {
				got = append(got, q[i].Key)
			}
		}
		if !reflect.DeepEqual(got, st.granted) {
			t.Fatalf("after %q left: granted %v, want %v", st.leave, got, st.granted)
		}
	}

	sem := mkQueue(qr{key: "a", mode: S, limit: 2}, qr{key: "b", mode: S, limit: 2}, qr{key: "c", mode: S, limit: 2})
	if sem.granted("c") {
		t.Fatal("third holder of a 2-semaphore granted")
	}
	sem = sem.apply(sdk.Event{Type: sdk.EventDelete, Entry: sdk.Entry{Key: "a"}})
	if !sem.granted("b") || !sem.granted("c") {
		t.Fatalf("after a slot freed: %v", sem)
	}
}

func TestQueueApply(t *testing.T) {
	q := mkQueue(qr{key: "a", mode: S}, qr{key: "c", mode: S})
	// A put that arrives late but was created between a and c lands
	// between them.
	q = q.apply(sdk.Event{Type: sdk.EventPut, Entry: qr{key: "b", mode: X}.entry(15)})
	// An update keeps the entry's place and takes its new value.
	q = q.apply(sdk.Event{Type: sdk.EventPut, Entry: qr{key: "a", mode: X, pinned: true}.entry(10)})
	if got := []string{q[0].Key, q[1].Key, q[2].Key}; !reflect.DeepEqual(got, []string{"a", "b", "c"}) || len(q) != 3 {
		t.Fatalf("queue order %v, want [a b c]", got)
	}
	if q[0].mode != Exclusive || !q[0].info.Pinned {
		t.Fatalf("updated entry: %v", q[0])
	}
	q = q.apply(sdk.Event{Type: sdk.EventDelete, Entry: sdk.Entry{Key: "b"}})
	q = q.apply(sdk.Event{Type: sdk.EventDelete, Entry: sdk.Entry{Key: "gone"}})
	if len(q) != 2 || q.index("b") != -1 || q.index("c") != 1 {
		t.Fatalf("after deletes: %v", q)
	}
}

// TestQueueForeignEntryHoldsExclusive: an entry that is not a lock
// request (or names an unknown mode) reads as a pinned exclusive holder,
// so it can never let two incompatible holders in.
func TestQueueForeignEntryHoldsExclusive(t *testing.T) {
	for _, v := range []string{"not json", `{"mode":"sideways"}`} {
		q := newQueue([]sdk.Entry{
			qr{key: "r", mode: S}.entry(1),
			{Key: "junk", Value: []byte(v), CreateRev: 2},
			qr{key: "late", mode: IS}.entry(3),
		})
		if q.granted("r") || q.granted("late") || !q.granted("junk") {
			t.Fatalf("value %q: r %v, late %v, junk %v", v, q.granted("r"), q.granted("late"), q.granted("junk"))
		}
	}
	// An unknown upgrade target is read as exclusive.
	up := requestInfo{Mode: "shared", Pinned: true, Target: "sideways"}
	q := newQueue([]sdk.Entry{{Key: "up", Value: encodeRequest(up), CreateRev: 1}, qr{key: "r", mode: S}.entry(2)})
	if q[0].target != Exclusive || q.granted("r") {
		t.Fatalf("unknown target: %v, r granted %v", q[0], q.granted("r"))
	}
}

func TestQueueUpgradeBlockers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		q        []qr
		key      string
		to       Mode
		blockers []string
		dead     string
	}{
		{"alone", []qr{{key: "a", mode: S}}, "a", X, nil, ""},
		{"waits for granted readers, ahead and behind",
			[]qr{{key: "r1", mode: S}, {key: "a", mode: S}, {key: "r2", mode: S}}, "a", X, []string{"r1", "r2"}, ""},
		{"does not wait for waiting requests",
			[]qr{{key: "a", mode: S}, {key: "w", mode: X}, {key: "r", mode: S}}, "a", X, nil, ""},
		{"update to exclusive waits for readers behind",
			[]qr{{key: "u", mode: U}, {key: "r", mode: S}}, "u", X, []string{"r"}, ""},
		{"compatible holders do not block",
			[]qr{{key: "a", mode: IS}, {key: "b", mode: IS}}, "a", IX, nil, ""},
		{"a holder upgrading to a conflicting mode blocks",
			[]qr{{key: "a", mode: IS}, {key: "b", mode: IS, pinned: true, target: S, blockers: []string{"c"}}, {key: "c", mode: IX}},
			"a", IX, []string{"b"}, ""},
		{"two readers upgrading: the second deadlocks",
			[]qr{{key: "a", mode: S, pinned: true, target: X, blockers: []string{"b"}}, {key: "b", mode: S}}, "b", X, nil, "a"},
		{"a cycle through a chain of upgrades",
			[]qr{
				{key: "s", mode: S},
				{key: "is1", mode: IS, pinned: true, target: S, blockers: []string{"is2"}},
				{key: "is2", mode: IS, pinned: true, target: IX, blockers: []string{"s"}},
			}, "s", IX, nil, "is1"},
		{"an upgrade waiting for a blocker that left is no cycle",
			[]qr{{key: "a", mode: S, pinned: true, target: X, blockers: []string{"gone"}}, {key: "b", mode: S}}, "b", X, []string{"a"}, ""},
		{"an upgrade waiting for a blocker that stepped down is no cycle",
			[]qr{{key: "a", mode: IS, pinned: true, target: IX, blockers: []string{"b"}}, {key: "b", mode: IS, pinned: true}, {key: "c", mode: S}}, "c", SIX, []string{"a"}, ""},
		// a waited for b's earlier upgrade, which was withdrawn; b's new
		// target conflicts with a's again, so a waits for b once b's target
		// is stored, while b waits for a: the newcomer is refused.
		{"a blocker that stepped down and upgrades again closes the cycle",
			[]qr{{key: "a", mode: IS, pinned: true, target: U, blockers: []string{"b", "c"}}, {key: "b", mode: IS, pinned: true}, {key: "c", mode: IX}}, "b", X, nil, "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := mkQueue(tc.q...)
			got, dead := q.upgradeBlockers(q.index(tc.key), tc.to)
			if !reflect.DeepEqual(got, tc.blockers) {
				t.Errorf("blockers %v, want %v", got, tc.blockers)
			}
			switch {
			case tc.dead == "" && dead != nil:
				t.Errorf("deadlock with %s, want none", dead.Key)
			case tc.dead != "" && (dead == nil || dead.Key != tc.dead):
				t.Errorf("deadlock with %v, want %s", dead, tc.dead)
			}
		})
	}
}

func TestQueueStillBlocksAndWaitsOn(t *testing.T) {
	q := mkQueue(
		qr{key: "a", mode: S, pinned: true, target: X, blockers: []string{"b"}},
		qr{key: "b", mode: IS, pinned: true, target: IX, blockers: []string{"c"}},
		qr{key: "c", mode: S},
	)
	if !q.stillBlocks(q.index("c"), IX) || q.stillBlocks(q.index("c"), IS) {
		t.Fatal("stillBlocks: S holder vs IX/IS")
	}
	if !q.stillBlocks(q.index("b"), S) {
		t.Fatal("stillBlocks: an IS holder upgrading to IX blocks S")
	}
	// b, upgrading to IX, blocks a's X; a waits on c through b.
	if !q.waitsOn(q.index("a"), "c", map[int]bool{}) {
		t.Fatal("a waits on c through b")
	}
	if q.waitsOn(q.index("b"), "a", map[int]bool{}) {
		t.Fatal("b does not wait on a")
	}
	if q.waitsOn(q.index("c"), "a", map[int]bool{}) {
		t.Fatal("c upgrades nothing, so waits on nothing")
	}
	if !q[0].waitsFor("b") || q[0].waitsFor("c") || q[2].waitsFor("a") {
		t.Fatal("waitsFor")
	}
}
