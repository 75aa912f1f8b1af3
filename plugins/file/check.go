package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// Resources lists the named locks in the named directory and the file
// resources this process has opened, whose names start with prefix.
func (s *Store) Resources(ctx context.Context, prefix string) ([]string, error) {
	targets, err := s.targets(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range targets {
		if strings.HasPrefix(t.resource, prefix) {
			out = append(out, t.resource)
		}
	}
	// Sorted, then each name once: a search per name made listing 10⁴
	// resources take most of a second.
	slices.Sort(out)
	return slices.Compact(out), nil
}

// target is a state file to list, check or repair.
type target struct {
	path     string
	resource string
}

// targets returns the state file of resource, or with "" every state file
// the store can find: those in the named directory and those this process
// has open.
func (s *Store) targets(ctx context.Context, resource string) ([]target, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	if resource != "" {
		path, err := s.cfg.statePath(resource)
		if err != nil {
			return nil, err
		}
		return []target{{path: path, resource: resource}}, nil
	}
	ents, err := os.ReadDir(s.cfg.namedDir)
	if err != nil {
		return nil, sdk.Errorf(sdk.CodeUnavailable, "list %s: %v", s.cfg.namedDir, err)
	}
	var out []target
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), s.cfg.suffix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		name, ok := unescapeName(base)
		if !ok {
			// A hashed name: the file records the real one.
			if name = resourceOf(ctx, filepath.Join(s.cfg.namedDir, e.Name())); name == "" {
				continue
			}
		}
		out = append(out, target{path: filepath.Join(s.cfg.namedDir, e.Name()), resource: name})
	}
	listed := make(map[string]bool, len(out))
	for _, t := range out {
		listed[t.path] = true
	}
	s.mu.Lock()
	for path, sf := range s.files {
		if !listed[path] {
			out = append(out, target{path: path, resource: sf.resource})
		}
	}
	s.mu.Unlock()
	return out, ctx.Err()
}

// resourceOf reads the resource name recorded in a state file, or "" when
// it cannot.
func resourceOf(ctx context.Context, path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	if lockFile(ctx, f, syscall.LOCK_SH, func() { _ = f.Close() }) != nil {
		return ""
	}
	defer f.Close()
	defer unlockFile(f)
	sf := &stateFile{path: path, f: f, curSlot: -1}
	snap, err := sf.read(bootID{}, false)
	if err != nil || snap.valid == nil {
		return ""
	}
	return snap.valid.resource
}

// Check inspects the state file of resource ("" for every one the store
// can find) without changing it and reports what is wrong: a superblock or
// state slots that fail their checksums, entries of dead sessions.
func (s *Store) Check(ctx context.Context, resource string) ([]sdk.Problem, error) {
	return s.inspectAll(ctx, resource, false)
}

// Repair fixes what Check reports. A state file with no valid state is
// reinitialised empty at its high-water mark, a revision beyond every one
// ever handed out; its entries are lost, and watches from older revisions
// get sdk.ErrCompacted. A file that also lost its superblock restarts its
// revisions above both its last valid state and the wall clock in
// microseconds, which no counter incremented once per change can have
// reached. Entries of dead sessions are removed as delete events.
func (s *Store) Repair(ctx context.Context, resource string) ([]sdk.Problem, error) {
	return s.inspectAll(ctx, resource, true)
}

func (s *Store) inspectAll(ctx context.Context, resource string, repair bool) ([]sdk.Problem, error) {
	targets, err := s.targets(ctx, resource)
	if err != nil {
		return nil, err
	}
	var out []sdk.Problem
	for _, t := range targets {
		sf, err := s.openPath(t.path, t.resource)
		if err != nil {
			return out, err
		}
		ps, err := s.inspect(ctx, sf, repair)
		s.doneWith(sf)
		if errors.Is(err, errNoFile) {
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, ps...)
	}
	return out, nil
}

// inspect checks one state file, bypassing every cache, and repairs it when
// asked to.
func (s *Store) inspect(ctx context.Context, sf *stateFile, repair bool) ([]sdk.Problem, error) {
	how := syscall.LOCK_SH
	if repair {
		how = syscall.LOCK_EX
	}
	if err := s.lockState(ctx, sf, how, false); err != nil {
		return nil, err
	}
	defer sf.unlock()

	problem := func(msg string) sdk.Problem {
		return sdk.Problem{Resource: sf.resource, Path: sf.path, Message: msg, Repaired: repair}
	}
	if repair {
		// A file first touched in this boot gets its reboot handling
		// (revision jump, entries dropped), a format-1 file its
		// conversion, before anything else. Damage is what the rest of
		// inspect is about, so its error is not returned here.
		if _, err := sf.load(s.env(), true); err != nil && sdk.CodeOf(err) != sdk.CodeCorrupt {
			return nil, err
		}
	}
	snap, err := sf.read(s.boot, false)
	if err != nil {
		return nil, err
	}
	if snap.fresh || snap.v1 {
		return nil, nil
	}
	var ps []sdk.Problem
	st := snap.st
	switch {
	case snap.sbErr != "":
		ps = append(ps, problem(snap.sbErr+"; the high-water mark of revisions is lost"))
		st = snap.valid
	case snap.sb.boot == s.boot:
		for _, msg := range []string{snap.sbDamaged, snap.slotErr} {
			if msg != "" {
				ps = append(ps, problem(msg))
			}
		}
		if snap.slotErr != "" {
			st = nil
		}
	}
	if st != nil {
		for _, e := range st.entries {
			if !s.alive(e.Session) {
				ps = append(ps, problem(fmt.Sprintf("entry %s belongs to session %s, which is dead", e.Key, e.Session)))
			}
		}
	}
	if !repair || len(ps) == 0 {
		return ps, nil
	}
	sf.cur = nil
	sf.sb, sf.sbSlot = snap.sb, snap.sbIdx
	floor, err := s.floor.current()
	if err != nil {
		return nil, err
	}
	switch {
	case snap.sbErr != "":
		// Revisions restart above the wall clock in microseconds, the
		// last valid state and the floor.
		base := max(time.Now().UnixMicro(), floor)
		if st != nil {
			base = max(base, st.rev)
		}
		if err := sf.writeAt("superblock", make([]byte, superblockSize), superblockSize); err != nil {
			return nil, err
		}
		if err := sf.writeSuperblock(superblock{seq: 1, hwm: base + hwmBlock, boot: s.boot, slotCap: defaultSlotCap}, 0); err != nil {
			return nil, err
		}
		if st != nil {
			st.rev, st.compact = base, base+1
			st.clearHistory()
		} else {
			st = newState(sf.resource, s.cfg.sessionDir, base)
		}
	case st == nil:
		// The state is lost: it restarts empty at the high-water mark,
		// beyond every revision handed out.
		st = newState(sf.resource, s.cfg.sessionDir, max(snap.sb.hwm, floor))
		fallthrough
	default:
		if snap.sbDamaged != "" {
			sb := snap.sb
			sb.seq++
			if err := sf.writeSuperblock(sb, 1-snap.sbIdx); err != nil {
				return nil, err
			}
		}
		if st.rev+hwmBlock/2 > sf.sb.hwm {
			if err := sf.raiseHWM(st.rev); err != nil {
				return nil, err
			}
		}
	}
	if st.resource == "" {
		st.resource = sf.resource
	}
	s.purge(st)
	if st.rev > sf.sb.hwm {
		if err := sf.raiseHWM(st.rev); err != nil {
			return nil, err
		}
	}
	if err := sf.rewrite(st, snap.maxSeq+1); err != nil {
		return nil, err
	}
	return ps, nil
}

// rangeWorkers is how many state files RangeResources reads at once, and
// how many CPUs it may use. Each system call of a read (flock, stat,
// pread) is too short to free the Go scheduler's processor for another
// reader, so readers overlap only on several CPUs: widen gives a plugin,
// limited to one, more while the read lasts.
const rangeWorkers = 4

var _ sdk.ResourceRanger = (*Store)(nil)

// widenAt is how many resources make a read worth more CPUs.
const widenAt = 256

var widening struct {
	sync.Mutex
	n    int
	prev int
}

// widen lets a process limited to one CPU (a plugin, which runs on one
// CPU for the latency of small calls: sdk.WithMaxProcs) use up to
// rangeWorkers CPUs while a bulk read lasts; the returned func narrows it
// again when the last such read ends. With GOMAXPROCS above 1 it does
// nothing: the Go runtime already spreads the readers.
func widen() (narrow func()) {
	widening.Lock()
	defer widening.Unlock()
	if widening.n == 0 {
		widening.prev = runtime.GOMAXPROCS(0)
		if widening.prev != 1 {
			return func() {}
		}
		runtime.GOMAXPROCS(min(runtime.NumCPU(), rangeWorkers))
	}
	widening.n++
	return func() {
		widening.Lock()
		defer widening.Unlock()
		if widening.n--; widening.n == 0 {
			runtime.GOMAXPROCS(widening.prev)
		}
	}
}

// RangeResources reads every resource whose name starts with prefix, a
// few state files at a time (sdk.ResourceRanger): the queue of each, read
// atomically on its own as Range reads it, in the order Resources lists
// them. A resource removed between the listing and its read comes back
// with no entries.
func (s *Store) RangeResources(ctx context.Context, prefix string) ([]sdk.ResourceRange, error) {
	names, err := s.Resources(ctx, prefix)
	if err != nil {
		return nil, err
	}
	if len(names) >= widenAt {
		defer widen()()
	}
	out := make([]sdk.ResourceRange, len(names))
	errs := make([]error, rangeWorkers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range min(rangeWorkers, len(names)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(names) || ctx.Err() != nil {
					return
				}
				r, err := s.rangeForListing(ctx, names[i])
				if err != nil {
					errs[w] = fmt.Errorf("range %s: %w", names[i], err)
					next.Store(int64(len(names)))
					return
				}
				out[i] = sdk.ResourceRange{Resource: names[i], RangeResult: r}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// rangeForListing is Range for a listing of many resources: it first reads
// the state without flock (peek), and under the lock as Range does when
// that read does not check out.
func (s *Store) rangeForListing(ctx context.Context, resource string) (sdk.RangeResult, error) {
	sf, err := s.open(resource)
	if err != nil {
		return sdk.RangeResult{}, err
	}
	var res sdk.RangeResult
	ok := s.peek(sf, func(st *state) {
		res = sdk.RangeResult{Rev: st.rev, Entries: st.cloneEntries()}
	})
	s.doneWith(sf)
	if ok {
		return res, nil
	}
	return s.Range(ctx, resource)
}

// peek calls fn with sf's state read without flock, and reports whether it
// did. A write by another process is never seen half done: a slot whose
// payload is being written does not match its header's checksum, and a
// superblock being rewritten leaves the other record, or shows damage.
// peek reports false on anything short of an intact state of this boot
// with no entry of a dead session, on a file not open, and on one no
// longer at its path, and the caller then reads under the lock, which
// tells a torn write from corruption and purges the dead. What fn sees is
// a state the file held during the call; it serves listings, never a
// decision to grant.
func (s *Store) peek(sf *stateFile, fn func(st *state)) bool {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	if sf.f == nil {
		return false
	}
	if same, err := atSamePath(sf.path, sf.dev, sf.ino); err != nil || !same {
		return false
	}
	// load without the exclusive lock answers an intact state of this
	// boot, or needExclusive, or an error: only the first is read here.
	l, err := sf.load(s.env(), false)
	if err != nil || l.needExclusive {
		return false
	}
	if s.checkSessionDir(sf, l.st) != nil || s.anyDead(l.st, probeSpec{limit: -1, maxAge: s.cfg.probeInterval}) {
		return false
	}
	fn(l.st)
	return true
}
