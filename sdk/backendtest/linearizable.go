package backendtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/locksmithx/locksmith/sdk"
)

// Linearizability: several clients run random operations on one resource
// at once; the recorded history (each call's input, output, start and end)
// must be explained by some order of the calls, each taking effect at one
// instant between its call and its return, on a sequential model of the
// contract (porcupine checks it).

// linOp is what a client asked.
type linOp struct {
	kind      string // put, putIfAbsent, update, delete, range
	key       string
	value     string
	expectRev int64
}

// linOut is what the store answered.
type linOut struct {
	code              sdk.Code // "" on success
	createRev, modRev int64
	rev               int64
	entries           []linEntry // range only
}

type linEntry struct {
	key, value        string
	createRev, modRev int64
}

// linState is the model's state of the resource: its revision and entries
// in creation order. Steps copy it; they never change one.
type linState struct {
	rev     int64
	entries []linEntry
}

func (s linState) find(key string) (linEntry, int) {
	for i, en := range s.entries {
		if en.key == key {
			return en, i
		}
	}
	return linEntry{}, -1
}

// with returns s at revision rev with en put (replacing its key's entry,
// in place, or appended), or with key removed when en is nil.
func (s linState) with(rev int64, key string, en *linEntry) linState {
	out := linState{rev: rev}
	placed := false
	for _, x := range s.entries {
		if x.key == key {
			if en != nil {
				out.entries = append(out.entries, *en)
				placed = true
			}
			continue
		}
		out.entries = append(out.entries, x)
	}
	if en != nil && !placed {
		out.entries = append(out.entries, *en)
	}
	return out
}

func linEqual(a, b any) bool {
	x, y := a.(linState), b.(linState)
	if x.rev != y.rev || len(x.entries) != len(y.entries) {
		return false
	}
	for i := range x.entries {
		if x.entries[i] != y.entries[i] {
			return false
		}
	}
	return true
}

// linStep is the sequential contract of one resource. A change takes a
// revision above the resource's (revisions need not be contiguous).
func linStep(state, input, output any) (bool, any) {
	s, in, out := state.(linState), input.(linOp), output.(linOut)
	old, at := s.find(in.key)
	exists := at >= 0
	switch in.kind {
	case "put", "putIfAbsent":
		if exists && in.kind == "putIfAbsent" {
			return out.code == sdk.CodeExists, s
		}
		create := out.rev
		if exists {
			create = old.createRev
		}
		if out.code != "" || out.rev <= s.rev || out.modRev != out.rev || out.createRev != create {
			return false, s
		}
		return true, s.with(out.rev, in.key, &linEntry{key: in.key, value: in.value, createRev: create, modRev: out.rev})
	case "update":
		switch {
		case !exists:
			return out.code == sdk.CodeNotFound, s
		case old.modRev != in.expectRev:
			return out.code == sdk.CodeRevMismatch, s
		}
		if out.code != "" || out.modRev <= s.rev {
			return false, s
		}
		return true, s.with(out.modRev, in.key, &linEntry{key: in.key, value: in.value, createRev: old.createRev, modRev: out.modRev})
	case "delete":
		switch {
		case !exists:
			return out.code == sdk.CodeNotFound, s
		case in.expectRev != 0 && old.modRev != in.expectRev:
			return out.code == sdk.CodeRevMismatch, s
		}
		if out.code != "" || out.rev <= s.rev {
			return false, s
		}
		return true, s.with(out.rev, in.key, nil)
	case "range":
		if out.code != "" || out.rev != s.rev || len(out.entries) != len(s.entries) {
			return false, s
		}
		for i := range s.entries {
			if out.entries[i] != s.entries[i] {
				return false, s
			}
		}
		return true, s
	}
	return false, s
}

func describeLin(input, output any) string {
	in, out := input.(linOp), output.(linOut)
	res := "ok"
	if out.code != "" {
		res = string(out.code)
	}
	switch in.kind {
	case "range":
		var ks []string
		for _, en := range out.entries {
			ks = append(ks, fmt.Sprintf("%s=%s@%d/%d", en.key, en.value, en.createRev, en.modRev))
		}
		return fmt.Sprintf("range -> rev %d [%s]", out.rev, strings.Join(ks, " "))
	case "update", "delete":
		return fmt.Sprintf("%s %s expect %d -> %s rev %d", in.kind, in.key, in.expectRev, res, max(out.modRev, out.rev))
	}
	return fmt.Sprintf("%s %s=%s -> %s rev %d", in.kind, in.key, in.value, res, out.rev)
}

// linClients and linOps size the recorded history: enough concurrency to
// find a reordering, small enough for the checker.
const (
	linClients = 5
	linOps     = 30
)

// checkLinearizable records a concurrent history of puts, updates,
// deletes and ranges on one resource and checks that it is linearizable.
func checkLinearizable(t tb, e *env) {
	ctx := e.ctx(t, 0)
	r := e.resource("r")
	keys := []string{"a", "b", "c"}
	start := e.rangeOf(t, ctx, e.b, r)
	if len(start.Entries) != 0 {
		t.Fatalf("fresh resource %s has entries %s", r, keysOf(start.Entries))
	}
	base := time.Now()
	var (
		mu      sync.Mutex
		history []porcupine.Operation
		errs    []error
		wg      sync.WaitGroup
	)
	for c := range linClients {
		s := e.open(t, ctx, e.b, longTTL)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), uint64(base.UnixNano())))
			seen := map[string]int64{} // key -> last ModRev this client saw
			for i := range linOps {
				in := linOp{key: keys[rng.IntN(len(keys))], value: fmt.Sprintf("%d-%d", c, i)}
				switch n := rng.IntN(10); {
				case n < 3:
					in.kind = "range"
				case n < 5:
					in.kind = "putIfAbsent"
				case n < 6:
					in.kind = "put"
				case n < 8:
					in.kind, in.expectRev = "update", seen[in.key]
				default:
					in.kind, in.expectRev = "delete", seen[in.key]
				}
				call := time.Since(base).Nanoseconds()
				out, err := linCall(ctx, e.b, r, s.ID, in)
				ret := time.Since(base).Nanoseconds()
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("client %d: %s: %w", c, describeLin(in, linOut{}), err))
					mu.Unlock()
					return
				}
				switch {
				case in.kind == "range":
					for _, en := range out.entries {
						seen[en.key] = en.modRev
					}
				case out.code == "" && in.kind != "delete":
					seen[in.key] = max(out.modRev, out.rev)
				}
				mu.Lock()
				history = append(history, porcupine.Operation{ClientId: c, Input: in, Call: call, Output: out, Return: ret})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("%v", err)
	}
	if len(errs) > 0 {
		return
	}
	model := porcupine.Model{
		Init:              func() any { return linState{rev: start.Rev} },
		Step:              linStep,
		Equal:             linEqual,
		DescribeOperation: describeLin,
	}
	res, info := porcupine.CheckOperationsVerbose(model, history, e.cfg.timeout)
	switch res {
	case porcupine.Illegal:
		t.Errorf("the history of %d operations by %d clients on one resource is not linearizable: no order of the calls, each taking effect at one instant between its call and its return, explains what the store answered (atomicity within a resource is broken). Longest explainable prefix:\n%s",
			len(history), linClients, longestPrefix(info, history))
	case porcupine.Unknown:
		t.Logf("linearizability of %d operations not decided within %v", len(history), e.cfg.timeout)
	}
}

// linCall runs one operation; an answer with a contract error code is an
// output, anything else an error of the check.
func linCall(ctx context.Context, b sdk.Backend, r, session string, in linOp) (linOut, error) {
	var out linOut
	var err error
	switch in.kind {
	case "put", "putIfAbsent":
		var p sdk.PutResult
		p, err = b.Put(ctx, sdk.PutRequest{Resource: r, Key: in.key, Value: []byte(in.value), Session: session, IfAbsent: in.kind == "putIfAbsent"})
		out = linOut{createRev: p.CreateRev, modRev: p.ModRev, rev: p.Rev}
	case "update":
		var u sdk.UpdateResult
		u, err = b.Update(ctx, sdk.UpdateRequest{Resource: r, Key: in.key, Value: []byte(in.value), ExpectRev: in.expectRev})
		out = linOut{modRev: u.ModRev, rev: u.Rev}
	case "delete":
		var d sdk.DeleteResult
		d, err = b.Delete(ctx, sdk.DeleteRequest{Resource: r, Key: in.key, ExpectRev: in.expectRev})
		out = linOut{rev: d.Rev}
	case "range":
		var rg sdk.RangeResult
		rg, err = b.Range(ctx, r)
		out = linOut{rev: rg.Rev}
		for _, en := range rg.Entries {
			out.entries = append(out.entries, linEntry{key: en.Key, value: string(en.Value), createRev: en.CreateRev, modRev: en.ModRev})
		}
	}
	if err == nil {
		return out, nil
	}
	for _, want := range []error{sdk.ErrExists, sdk.ErrNotFound, sdk.ErrRevMismatch} {
		if errors.Is(err, want) {
			return linOut{code: sdk.CodeOf(err)}, nil
		}
	}
	return linOut{}, err
}

// longestPrefix describes the longest partial linearization porcupine
// found, the operations in the order it could explain them.
func longestPrefix(info porcupine.LinearizationInfo, history []porcupine.Operation) string {
	var best []porcupine.Operation
	for _, part := range info.PartialLinearizationsOperations() {
		for _, lin := range part {
			if len(lin) > len(best) {
				best = lin
			}
		}
	}
	var b strings.Builder
	for _, op := range best {
		fmt.Fprintf(&b, "  client %d: %s\n", op.ClientId, describeLin(op.Input, op.Output))
	}
	fmt.Fprintf(&b, "  (%d of %d operations explained)", len(best), len(history))
	return b.String()
}
