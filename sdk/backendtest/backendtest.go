package backendtest

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/locksmithx/locksmith/sdk"
)

// Factory returns a fresh, configured backend for one check. Successive
// calls may share the underlying store (the same directory, the same
// server): every check uses resource names of its own. A factory that holds
// resources releases them with t.Cleanup; Run closes nothing itself.
type Factory func(t *testing.T) sdk.Backend

// check is one guarantee of the contract, checked against e.b.
type check struct {
	name string
	run  func(t tb, e *env)
	// timed checks wait out TTLs; they run in parallel with each other.
	timed bool
	// remote checks need the suite's own gRPC connections to the backend.
	remote bool
}

// checks lists the suite. Subtest names are the check names.
var checks = []check{
	{name: "InfoAndHealth", run: checkInfoAndHealth},
	{name: "RevisionsIncrease", run: checkRevisionsIncrease},
	{name: "PutCreatesAndReplaces", run: checkPutCreatesAndReplaces},
	{name: "PutIfAbsent", run: checkPutIfAbsent},
	{name: "UpdateCompareAndSwap", run: checkUpdateCompareAndSwap},
	{name: "UpdateResourceGuard", run: checkUpdateResourceGuard},
	{name: "DeleteCompareAndSwap", run: checkDeleteCompareAndSwap},
	{name: "RangeCreationOrder", run: checkRangeCreationOrder},
	{name: "PutWithRange", run: checkPutWithRange},
	{name: "DeleteWithRange", run: checkDeleteWithRange},
	{name: "Batch", run: checkBatch},
	{name: "RangeResources", run: checkRangeResources},
	{name: "PutWithRangeConcurrentSnapshots", run: checkPutWithRangeConcurrent},
	{name: "WatchReplaysHistory", run: checkWatchReplaysHistory},
	{name: "WatchFromMidHistory", run: checkWatchFromMidHistory},
	{name: "WatchFromCurrentRevision", run: checkWatchFromCurrentRevision},
	{name: "WatchEndsWithContext", run: checkWatchEndsWithContext},
	{name: "WatchReturnsSendError", run: checkWatchReturnsSendError},
	{name: "WatchCompacted", run: checkWatchCompacted},
	{name: "WatchWakeOnDeliversAll", run: checkWatchWakeOnDeliversAll},
	{name: "UnknownSession", run: checkUnknownSession},
	{name: "RevokeRemovesEntries", run: checkRevokeRemovesEntries},
	{name: "ConcurrentMutualExclusion", run: checkConcurrentMutualExclusion},
	{name: "ResourcesAndCheck", run: checkResourcesAndCheck},
	{name: "SessionExpires", run: checkSessionExpires, timed: true},
	{name: "SessionKeptAlive", run: checkSessionKeptAlive, timed: true},
	{name: "BrokenKeepAliveStreamRevokes", run: checkBrokenKeepAliveStream, timed: true, remote: true},
	{name: "WatchResumesAfterCut", run: checkWatchResume},
	{name: "CompareAndSwapStorm", run: checkCASStorm},
	{name: "Linearizable", run: checkLinearizable},
	{name: "RestartKeepsState", run: checkRestart},
	{name: "SharedStoreInstances", run: checkSharedInstances},
	{name: "SessionExpiresMidOperation", run: checkExpiresMidOperation, timed: true},
	{name: "AdoptUnknownOrEndedSession", run: checkAdoptUnknownOrEnded},
	{name: "AdoptedSessionKeepsEntries", run: checkAdoptedKeepsEntries},
	{name: "AdoptedSessionExpires", run: checkAdoptedExpires, timed: true},
}

// Run runs the suite against the backends f returns: under "direct" as
// returned, under "grpc" through a gRPC connection, each check in a subtest
// of its own. Options tune the timing and the modes. Run returns when every
// check has finished.
func Run(t *testing.T, f Factory, opts ...Option) {
	t.Helper()
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.inProcess {
		t.Run("direct", func(t *testing.T) { runMode(t, f, cfg, false) })
	}
	if cfg.grpc {
		t.Run("grpc", func(t *testing.T) { runMode(t, f, cfg, true) })
	}
}

func runMode(t *testing.T, f Factory, cfg config, remote bool) {
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.remote && !remote {
				t.Skip("needs the suite's own gRPC connections; runs in grpc mode")
			}
			if c.timed {
				t.Parallel()
			}
			impl := f(t)
			if impl == nil {
				t.Fatal("factory returned a nil backend")
			}
			e := newEnv(t, impl, cfg)
			if remote {
				e.b = sdk.TestBackendConn(t, impl)
				e.dial = func() (sdk.Backend, func()) { return sdk.TestBackendConnClosable(t, impl) }
			}
			e.another = func() sdk.Backend {
				b := f(t)
				if remote {
					return sdk.TestBackendConn(t, b)
				}
				return b
			}
			if cfg.restart != nil {
				e.restart = func() sdk.Backend {
					b := cfg.restart(t, impl)
					if remote {
						return sdk.TestBackendConn(t, b)
					}
					return b
				}
			}
			if cfg.crash != nil {
				e.crash = func() { cfg.crash(t, impl) }
				e.fresh = func() sdk.Backend {
					b := f(t)
					if remote {
						return sdk.TestBackendConn(t, b)
					}
					return b
				}
			}
			c.run(t, e)
		})
	}
}

// tb is the part of testing.TB the checks use. It lets the package's own
// tests run a check against a recorder and see it fail.
type tb interface {
	Helper()
	Name() string
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Failed() bool
	Cleanup(func())
}

// env is what a check runs against.
type env struct {
	// b is the backend under test, as the checks call it.
	b sdk.Backend
	// dial opens another connection to the same backend and returns it with
	// a function that breaks it; nil unless the suite runs over gRPC.
	dial func() (sdk.Backend, func())
	// crash crashes the backend under test (see WithCrash), and fresh
	// returns another backend on the same store; both nil without
	// WithCrash.
	crash func()
	fresh func() sdk.Backend
	// restart restarts the backend under test and returns the new one (see
	// WithRestart); nil without it. another returns one more backend from
	// the factory.
	restart func() sdk.Backend
	another func() sdk.Backend
	cfg     config
	prefix  string
}

func newEnv(t tb, b sdk.Backend, cfg config) *env {
	return &env{b: b, cfg: cfg, prefix: "backendtest/" + sanitize(t.Name()) + "-" + randomSuffix()}
}

// resource names a resource of this check only.
func (e *env) resource(name string) string { return e.prefix + "/" + name }

func sanitize(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '-'
	}, name)
}

func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
