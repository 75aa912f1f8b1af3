package file

import (
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// Cross-process wake-ups are futex words in one small file in the session
// directory, mapped shared by every store of the machine: one 32-bit word
// per hash bucket of state file paths. A commit adds one to its file's
// word and wakes whoever waits on it (FUTEX_WAKE); a process with watches
// on a bucket has one goroutine waiting on its word (FUTEX_WAIT, with a
// timeout), which wakes those watches. Unlike inotify, this needs no
// kernel object per process, so any number of waiting processes costs
// nothing but their waits; a removed and re-created state file keeps its
// word, its path being the same.
const (
	wakeFileName = "wake-words"
	wakeBuckets  = 4096
	wakeSize     = wakeBuckets * 4

	futexWake       = 1
	futexWaitBitset = 9
	futexWakeBitset = 10

	// wakeRecheck bounds a futex wait, so a goroutine whose bucket has no
	// watches left ends even if its kick was missed (sent between its check
	// and its wait). Every end of a bucket's last watch kicks it, so this
	// is only a safety net: a process that waits for a long time wakes for
	// it, and 200 waiting plugins each waking every few seconds cost the
	// machine thousands of context switches a second.
	wakeRecheck = 30 * time.Second
)

// wakeTable is this process's mapping of the wake-up words.
type wakeTable struct {
	log hclog.Logger
	mem []byte
	// broken is set when the mapping faulted (the file was truncated):
	// wake-ups stop, and watches fall back to polling.
	broken atomic.Bool

	// bit is this table's among the 32 of a futex wait's bitset: its
	// goroutines wait with it, and its kicks wake only waits with it (see
	// kick). A ring wakes every wait, whatever its bit.
	bit uint32
	// waits counts the returns of the goroutines' futex waits.
	waits atomic.Uint64

	mu      sync.Mutex
	buckets map[uint32]*bucketWatch
	closed  bool
	running sync.WaitGroup
}

// bucketWatch is what has watches here among the words of one bucket: a
// state file (key "": its watches of every change) or one key of it (the
// watches waiting for that key's change, sdk.WakeOn).
type bucketWatch struct {
	files map[wakeTarget]int
}

type wakeTarget struct {
	sf  *stateFile
	key string
	// every: the watches of sf waiting for keys, all of them, for a change
	// its events do not tell (see everyWord).
	every bool
}

// everyWord is what a change of the state file at path that its events do
// not tell rings, besides the path itself: a rewrite of the state (repair,
// a new boot, a format conversion). Watches waiting for keys wait on it
// too, since such a change may concern any key.
func everyWord(path string) string { return path + "\x00\x00" }

// keyWord is what a change of key in the state file at path rings, besides
// the path itself: a word of its own, so that a process waiting for that
// key is not woken by the file's other changes.
func keyWord(path, key string) string { return path + "\x00" + key }

// openWakeTable maps the wake-up words of dir, creating the file. It
// returns nil (watches poll) when it cannot.
func openWakeTable(dir string, log hclog.Logger) *wakeTable {
	path := filepath.Join(dir, wakeFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		log.Warn("no wake-ups; watches will poll", "path", path, "error", err)
		return nil
	}
	defer f.Close()
	_ = f.Chmod(0o666) // shared by every user's processes, as the session directory is
	fi, err := f.Stat()
	if err == nil && fi.Size() < wakeSize {
		// Growing is safe for other mappings; only shrinking faults them.
		err = f.Truncate(wakeSize)
	}
	if err != nil {
		log.Warn("no wake-ups; watches will poll", "path", path, "error", err)
		return nil
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, wakeSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		log.Warn("no wake-ups; watches will poll", "path", path, "error", err)
		return nil
	}
	n := uint32(os.Getpid()) + tablesOpened.Add(1)
	return &wakeTable{log: log, mem: mem, bit: 1 << (n % 32), buckets: map[uint32]*bucketWatch{}}
}

// tablesOpened counts this process's tables, so that two of them (tests
// open many stores) take different bits.
var tablesOpened atomic.Uint32

func bucketOf(path string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(path))
	return h.Sum32() % wakeBuckets
}

func (w *wakeTable) word(b uint32) *uint32 {
	return (*uint32)(unsafe.Pointer(&w.mem[b*4]))
}

// guard turns a fault on the mapping (the file was truncated under it)
// into a switch to polling. It must be deferred by every function that
// touches the mapping.
func (w *wakeTable) guard() {
	if r := recover(); r != nil {
		if !w.broken.Swap(true) {
			w.log.Warn("wake-up words became unreadable; watches will poll", "fault", fmt.Sprint(r))
		}
	}
}

// working reports whether changes are events: the words are mapped and
// have not faulted.
func (w *wakeTable) working() bool { return w != nil && !w.broken.Load() }

// ring signals a change of the state file at path to every process: a
// FUTEX_WAKE wakes every wait on the word, whatever its bitset.
func (w *wakeTable) ring(path string) {
	if w == nil || w.broken.Load() {
		return
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer w.guard()
	addr := w.word(bucketOf(path))
	atomic.AddUint32(addr, 1)
	_, _, _ = syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake, math.MaxInt32, 0, 0, 0)
}

// subscribe makes changes of sf, wherever they are made, wake sf's
// watches (through sf.notify) until the returned func is called.
func (w *wakeTable) subscribe(sf *stateFile) (unsubscribe func()) {
	return w.subscribeTarget(wakeTarget{sf: sf})
}

// subscribeKeys makes changes of keys of sf, wherever they are made, kick
// the watches waiting for them (through sf.notifyKeys) until the returned
// func is called.
func (w *wakeTable) subscribeKeys(sf *stateFile, keys []string) (unsubscribe func()) {
	stops := make([]func(), 0, len(keys)+1)
	for _, k := range keys {
		stops = append(stops, w.subscribeTarget(wakeTarget{sf: sf, key: k}))
	}
	stops = append(stops, w.subscribeTarget(wakeTarget{sf: sf, every: true}))
	return func() {
		for _, stop := range stops {
			stop()
		}
	}
}

func (w *wakeTable) subscribeTarget(t wakeTarget) (unsubscribe func()) {
	if w == nil {
		return func() {}
	}
	word := t.sf.path
	switch {
	case t.every:
		word = everyWord(t.sf.path)
	case t.key != "":
		word = keyWord(t.sf.path, t.key)
	}
	b := bucketOf(word)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return func() {}
	}
	bw := w.buckets[b]
	if bw == nil && !w.broken.Load() {
		// The word is read here, before the caller reads the state: a
		// change after that read changes the word from seen, so the
		// goroutine's first wait returns at once.
		seen, ok := w.load(b)
		if !ok {
			return func() {}
		}
		bw = &bucketWatch{files: map[wakeTarget]int{}}
		w.buckets[b] = bw
		w.running.Add(1)
		go w.run(b, bw, seen)
	}
	if bw == nil {
		return func() {}
	}
	bw.files[t]++
	return func() {
		w.mu.Lock()
		if bw.files[t]--; bw.files[t] == 0 {
			delete(bw.files, t)
		}
		idle := len(bw.files) == 0 && w.buckets[b] == bw
		w.mu.Unlock()
		if idle {
			// The bucket's goroutine blocks in the futex on an OS thread
			// of its own: wake it so that it sees nothing left to watch
			// and ends now, not at its recheck. Keys are new for every
			// request, so under steady locking their buckets come and go
			// by the hundred a second, and threads left waiting out their
			// recheck piled up (1 500+ in a plugin with 8 contenders).
			// Other processes wait on the same word (every process with
			// a waiter on a file waits on the file's words), but a kick
			// wakes only this table's waits (see kick).
			w.kick(b)
		}
	}
}

// run waits on bucket b's word and wakes its watches, until the bucket has
// none left.
func (w *wakeTable) run(b uint32, bw *bucketWatch, seen uint32) {
	defer w.running.Done()
	defer func() {
		// After a fault, the bucket has no goroutine any more.
		w.mu.Lock()
		if w.buckets[b] == bw {
			delete(w.buckets, b)
		}
		w.mu.Unlock()
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer w.guard()
	addr := w.word(b)
	for !w.broken.Load() {
		// A bucket left with nothing to watch (while this goroutine was
		// waking the last watches, say) ends before waiting again.
		w.mu.Lock()
		if w.retireLocked(b, bw) {
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		// FUTEX_WAIT_BITSET's timeout is a time on the monotonic clock.
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			w.log.Warn("no monotonic clock; watches will poll", "error", err)
			w.broken.Store(true)
			return
		}
		ts = unix.NsecToTimespec(ts.Nano() + int64(wakeRecheck))
		_, _, errno := syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitBitset, uintptr(seen), uintptr(unsafe.Pointer(&ts)), 0, uintptr(w.bit))
		w.waits.Add(1)
		if errno == syscall.ENOSYS || errno == syscall.EINVAL {
			// A wait that cannot block would spin: poll instead.
			w.log.Warn("futex wait refused; watches will poll", "error", errno)
			w.broken.Store(true)
			return
		}
		// Load before waking: a change after this load makes the next
		// wait return at once.
		now := atomic.LoadUint32(addr)
		w.mu.Lock()
		if w.retireLocked(b, bw) {
			w.mu.Unlock()
			return
		}
		var targets []wakeTarget
		if now != seen {
			for t := range bw.files {
				targets = append(targets, t)
			}
		}
		w.mu.Unlock()
		seen = now
		for _, t := range targets {
			switch {
			case t.every:
				t.sf.notifyKeys(nil, true)
			case t.key == "":
				t.sf.notify()
			default:
				t.sf.notifyKeys([]string{t.key}, false)
			}
		}
		if len(targets) > 0 {
			// Let the watches just woken deliver the change before this
			// goroutine blocks in the futex again. A goroutine blocked in
			// a system call keeps its P until the runtime's monitor takes
			// it back, which, in a process idle for a while, comes
			// hundreds of µs later; in a plugin on one P
			// (sdk.WithMaxProcs), everything made runnable meanwhile
			// waits that long. A watch's delivery is a read of the state,
			// then the event handed to gRPC's writer, which yields once
			// before it flushes: three yields let that chain finish.
			// Measured with the handoff between two hosts: the watch ran
			// ~580 µs after the futex woke, the handoff took 1.2–1.5 ms
			// p50; with the yields, ~30 µs and 0.6–0.7 ms.
			for range 3 {
				runtime.Gosched()
			}
		}
	}
}

// retireLocked reports whether bucket b's goroutine, watching for bw, is
// to end: bw has nothing left to watch, or the table is closed. It then
// takes bw out of the table, in the same hold of w.mu as the check, so
// that a new watch of the bucket starts a goroutine of its own. w.mu is
// held.
func (w *wakeTable) retireLocked(b uint32, bw *bucketWatch) bool {
	if len(bw.files) > 0 && !w.closed {
		return false
	}
	if w.buckets[b] == bw {
		delete(w.buckets, b)
	}
	return true
}

// load reads bucket b's word; ok is false when the mapping faulted.
func (w *wakeTable) load(b uint32) (v uint32, ok bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer w.guard()
	return atomic.LoadUint32(w.word(b)), true
}

// close ends every wait and unmaps the words.
func (w *wakeTable) close() {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.closed = true
	var waiting []uint32
	for b := range w.buckets {
		waiting = append(waiting, b)
	}
	w.mu.Unlock()
	for _, b := range waiting {
		w.kick(b)
	}
	w.running.Wait()
	_ = syscall.Munmap(w.mem)
}

// kick wakes this table's wait on bucket b without signalling a change.
// The word is shared by every process, and other processes wait on it too:
// 200 exec waiters on one file are 200 plugins waiting on the file's
// words. A plain FUTEX_WAKE woke them all: every store closing (every exec
// leaving, one per handoff) woke the other 199 plugins for nothing, which
// cost the plugins ~18 ms of CPU per handoff at 200 waiters. Waking only
// the waits whose bitset has this table's bit wakes its own goroutines and
// those of the processes whose table took the same bit (one in 32), which
// find their word unchanged and wait again.
func (w *wakeTable) kick(b uint32) {
	if w.broken.Load() {
		return
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer w.guard()
	addr := w.word(b)
	_, _, _ = syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakeBitset, math.MaxInt32, 0, 0, uintptr(w.bit))
}
