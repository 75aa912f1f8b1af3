// Package file is Locksmith's file backend: the lock store on the local
// filesystem, shared safely by every process of one machine.
//
// Each resource has one state file. A resource that is an absolute path
// keeps it beside the file ("/data/counter" → "/data/counter.locksmith"),
// never inside it; any other resource is a named lock whose state file lives
// in the configured named directory. Every operation takes flock on the
// state file, reads it, changes it and writes the new state into the other
// of two checksummed slots in one pwrite, without fsync: a killed process
// never leaves a torn state behind, and a power loss is caught by the
// checksums and by the boot id (see stateFile.handleReboot).
//
// Sessions are files in a machine-wide session directory, each locked by
// the process that owns the session; the kernel drops the lock when that
// process dies, so every other process sees the death at once. The README
// describes the on-disk format and the guarantees.
package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/sdk"
)

// Version is the file backend's version.
const Version = "0.1.0"

var errClosed = sdk.Errorf(sdk.CodeUnavailable, "file backend is closed")

// Store is the file backend: a sdk.Backend on the local filesystem. Create
// it with New; Configure it before use (an unconfigured Store configures
// itself with defaults on first use). All methods are safe for concurrent
// use.
type Store struct {
	log hclog.Logger
	// readBoot returns the current boot id; tests replace it.
	readBoot func() (bootID, error)

	initOnce sync.Once
	initErr  error
	cfg      settings
	boot     bootID
	probes   *liveness
	seen     seenAlive
	deaths   deathWatch
	floor    *revisionFloor
	bells    *wakeTable
	warnings []string

	mu         sync.Mutex
	configured bool
	used       bool
	closed     bool
	files      map[string]*stateFile
	idle       map[*stateFile]struct{}
	sessions   map[string]*session
	sweeping   sync.WaitGroup
	cleaning   sync.WaitGroup

	// idleAfter is how long a handle stays open unused (see handles.go);
	// closing stop ends the janitor that closes them, which idled wakes
	// when a handle turns idle.
	idleAfter time.Duration
	stop      chan struct{}
	idled     chan struct{}
	// janitorRounds counts the janitor's looks at idle handles.
	janitorRounds atomic.Int64
}

// New returns an unconfigured file backend.
func New() *Store {
	return &Store{
		log:       hclog.New(&hclog.LoggerOptions{Name: "file", Output: os.Stderr, JSONFormat: true, Level: hclog.Info}),
		readBoot:  readBootID,
		files:     map[string]*stateFile{},
		idle:      map[*stateFile]struct{}{},
		sessions:  map[string]*session{},
		idleAfter: defaultIdleAfter,
		stop:      make(chan struct{}),
		idled:     make(chan struct{}, 1),
	}
}

// Info describes the backend. It may be called before Configure.
func (s *Store) Info(context.Context) (sdk.PluginInfo, error) {
	s.mu.Lock()
	warnings := append([]string(nil), s.warnings...)
	s.mu.Unlock()
	return sdk.PluginInfo{
		Name:         "file",
		Version:      Version,
		Kind:         sdk.KindBackend,
		Capabilities: []string{sdk.CapWatch, sdk.CapPersistent, sdk.CapRepair, sdk.CapAdopt, sdk.CapDeleteRange},
		ConfigSchema: configSchema,
		Warnings:     warnings,
	}, nil
}

// Configure validates cfg, creates the named and session directories, and
// starts a background sweep of dead session files. It may be called once,
// before the store is used.
func (s *Store) Configure(ctx context.Context, cfg sdk.Config) error {
	st, err := parseConfig(cfg)
	if err != nil {
		return err
	}
	s.mu.Lock()
	used := s.used
	s.mu.Unlock()
	if used {
		return sdk.Errorf(sdk.CodeInvalidConfig, "configure: the file backend is already in use; start a new plugin to change its config")
	}
	done := false
	s.initOnce.Do(func() {
		done = true
		s.initErr = s.setup(st)
	})
	if !done {
		return sdk.Errorf(sdk.CodeInvalidConfig, "configure: the file backend is already configured")
	}
	return s.initErr
}

// ready configures the store with defaults if Configure was never called,
// and marks it in use.
func (s *Store) ready() error {
	s.initOnce.Do(func() {
		st, err := parseConfig(sdk.Config{})
		if err != nil {
			s.initErr = err
			return
		}
		s.initErr = s.setup(st)
	})
	if s.initErr != nil {
		return s.initErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	s.used = true
	return nil
}

func (s *Store) setup(st settings) error {
	if err := ensureDir(st.namedDir, 0o700); err != nil {
		return sdk.Errorf(sdk.CodeInvalidConfig, "named_dir: %v", err)
	}
	// Named locks' state files must survive a power loss, so must the
	// directory entry of their directory.
	if err := syncDir(filepath.Dir(st.namedDir)); err != nil {
		return sdk.Errorf(sdk.CodeInvalidConfig, "named_dir: %v", err)
	}
	if err := ensureDir(st.sessionDir, sharedDirMode); err != nil {
		return sdk.Errorf(sdk.CodeInvalidConfig, "session_dir: %v", err)
	}
	boot, err := s.readBoot()
	var warnings []string
	if err != nil {
		warnings = append(warnings, fmt.Sprintf("cannot tell reboots apart (%v): after a power loss, revisions may go backwards and entries of dead sessions may linger until purged", err))
	}
	if onTmpfs(st.namedDir) {
		warnings = append(warnings, fmt.Sprintf("named_dir %s is on tmpfs: named locks' revisions restart after a reboot", st.namedDir))
	}
	s.cfg, s.boot = st, boot
	s.probes = newLiveness(st.sessionDir, s.log)
	s.floor = newRevisionFloor(st.sessionDir, boot, s.log)
	s.bells = openWakeTable(st.sessionDir, s.log)
	s.mu.Lock()
	s.configured = true
	s.warnings = warnings
	s.sweeping.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.sweeping.Done()
		s.probes.sweep(func(id string) bool { own, _ := s.ownAlive(id); return own })
	}()
	s.cleaning.Add(1)
	go func() {
		defer s.cleaning.Done()
		s.janitor(s.stop)
	}()
	return nil
}

// ensureDir creates dir with mode perm if it does not exist (setting the
// full mode despite the umask) and checks that it is a directory, not a
// symlink planted in a shared place. An existing directory keeps its mode.
func ensureDir(dir string, perm os.FileMode) error {
	_, err := os.Lstat(dir)
	created := errors.Is(err, os.ErrNotExist)
	if err := os.MkdirAll(dir, perm.Perm()); err != nil {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if created && fi.Mode()&(os.ModePerm|os.ModeSticky) != perm {
		return os.Chmod(dir, perm)
	}
	return nil
}

// sharedDirMode is the mode of a session directory this store creates: like
// /tmp, every user may create files in it and only remove their own.
const sharedDirMode = os.ModeSticky | 0o777

// tmpfsMagic is the statfs type of tmpfs.
const tmpfsMagic = 0x01021994

func onTmpfs(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && st.Type == tmpfsMagic
}

// Health reports whether the store can serve: it is open and its
// directories exist. It does not configure the store.
func (s *Store) Health(context.Context) error {
	s.mu.Lock()
	closed, configured := s.closed, s.configured
	s.mu.Unlock()
	if closed {
		return errClosed
	}
	if !configured {
		return nil
	}
	for _, dir := range []string{s.cfg.namedDir, s.cfg.sessionDir} {
		if _, err := os.Stat(dir); err != nil {
			return sdk.Errorf(sdk.CodeUnavailable, "health: %v", err)
		}
	}
	return nil
}

// Close revokes the sessions still open, closes every state file and stops
// watching. Watches in progress end with an error. Close is safe to call
// more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	ids := make([]string, 0, len(s.sessions))
	for id := range s.sessions {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	var errs []error
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), revokeTimeout)
		errs = append(errs, s.Revoke(ctx, id))
		cancel()
	}
	s.mu.Lock()
	s.closed = true
	configured := s.configured
	files := s.files
	s.files, s.idle = map[string]*stateFile{}, map[*stateFile]struct{}{}
	s.mu.Unlock()
	close(s.stop)
	s.sweeping.Wait()
	s.cleaning.Wait()
	for _, sf := range files {
		if configured {
			s.evict(sf)
		}
		sf.notify()
		sf.notifyKeys(nil, true)
	}
	s.bells.close()
	if s.probes != nil {
		s.probes.close()
	}
	if s.floor != nil {
		s.floor.close()
	}
	return errors.Join(errs...)
}

// env is what loading a state file needs from the store.
func (s *Store) env() loadEnv {
	return loadEnv{boot: s.boot, sessionDir: s.cfg.sessionDir, alive: s.alive, floor: s.floor}
}

// Interface guards.
var (
	_ sdk.Backend = (*Store)(nil)
	_ sdk.Closer  = (*Store)(nil)
)
