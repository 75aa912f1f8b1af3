// Package execflags is exec's command line: the options, flock(1)'s
// spellings of them, the forms RESOURCE -c 'command' and RESOURCE
// OPTIONS -- CMD, and their checks. `locksmith exec` and `locksmith-exec`
// both read their command lines with it, so the two take the same options
// the same way. It depends on pflag and the agent protocol alone.
package execflags

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/locksmithx/locksmith/internal/agentproto"
)

// Flags are exec's options once read and checked.
type Flags struct {
	Mode         string
	ModeSet      bool // the command line chose the mode
	Wait         time.Duration
	NoWait       bool
	ConflictExit int
	TTL          time.Duration // only with Register's withTTL
	Meta         map[string]string
	Named        bool
	Hierarchical bool
	Limit        int

	name string // the command, for messages: "exec", "locksmith-exec"
	meta []string
	// flock(1)'s spellings.
	timeout   float64 // -w/--timeout SECONDS
	shared    bool    // -s/--shared
	exclusive bool    // -x/-e/--exclusive
	command   string  // -c 'shell command'
}

// Register declares the options on fl, for the command called name; with
// withTTL, --ttl too (the lease TTL of a host of exec's own).
func (f *Flags) Register(fl *pflag.FlagSet, name string, withTTL bool) {
	f.name = name
	// As flock(1): options before RESOURCE, the command's own after it.
	fl.SetInterspersed(false)
	fl.StringVar(&f.Mode, "mode", "exclusive", "lock mode: shared, exclusive, read, write, update")
	fl.DurationVar(&f.Wait, "wait", 0, "give up after waiting this long (default: wait until obtained)")
	fl.BoolVarP(&f.NoWait, "no-wait", "n", false, "fail at once if the lock is held")
	fl.BoolVar(&f.NoWait, "nonblock", false, "the same as --no-wait (flock(1))")
	fl.Float64VarP(&f.timeout, "timeout", "w", 0, "give up after waiting this many seconds (flock(1); 0: do not wait)")
	fl.BoolVarP(&f.shared, "shared", "s", false, "shared lock: --mode shared (flock(1))")
	fl.BoolVarP(&f.exclusive, "exclusive", "x", false, "exclusive lock: --mode exclusive, the default (flock(1); also -e)")
	fl.BoolVarP(&f.exclusive, "exclusive-e", "e", false, "the same as -x")
	_ = fl.MarkHidden("exclusive-e")
	fl.StringVarP(&f.command, "command", "c", "", "run this shell command with /bin/sh -c (flock(1))")
	fl.IntVarP(&f.ConflictExit, "conflict-exit-code", "E", agentproto.ExitNotLocked, "exit code when the lock is not obtained")
	if withTTL {
		fl.DurationVar(&f.TTL, "ttl", 0, "lease TTL (default: lease.ttl, 15s)")
	}
	fl.StringArrayVar(&f.meta, "meta", nil, "metadata k=v shown in status (repeatable)")
	fl.BoolVar(&f.Named, "named", false, "RESOURCE is a lock name, not a file")
	fl.BoolVar(&f.Hierarchical, "hierarchical", false, "RESOURCE is a lock name whose /-separated parts form a hierarchy")
	fl.IntVar(&f.Limit, "limit", 0, "semaphore: at most N holders at once (mode shared)")
}

// Args reads what follows the options: fl has been parsed up to RESOURCE,
// args are its arguments and dash the position of a "--" among them (-1:
// none). It returns RESOURCE and the command line. Every error is a usage
// error. With --limit and no mode chosen, the mode is shared; whether a
// chosen mode goes with --limit is for whoever parses modes to say.
func (f *Flags) Args(fl *pflag.FlagSet, args []string, dash int) (resource string, argv []string, err error) {
	// Options end at RESOURCE, so a "--" after it is still in args.
	// Options between RESOURCE and a "--" (exec R --no-wait -- CMD) are
	// still exec's own, as they always were.
	if dash < 0 && len(args) > 1 {
		if k := slices.Index(args[1:], "--") + 1; k > 0 && allOptions(args[1:k]) {
			if err := fl.Parse(args[1:k]); err != nil {
				return "", nil, err
			}
			args = append(args[:1:1], args[k+1:]...)
			dash = 1
		}
	}
	f.ModeSet = fl.Changed("mode")
	if err := f.flockSpellings(fl.Changed("timeout"), fl.Changed("wait")); err != nil {
		return "", nil, err
	}
	// flock(1) puts -c after the file: exec RESOURCE -c 'command'.
	if dash < 0 && len(args) > 1 && (args[1] == "-c" || args[1] == "--command") {
		if len(args) != 3 {
			return "", nil, fmt.Errorf("-c takes exactly one shell command, quoted: %s [flags] RESOURCE -c 'command'", f.name)
		}
		if f.command != "" {
			return "", nil, fmt.Errorf("-c given twice")
		}
		f.command, args = args[2], args[:1]
	}
	if f.command != "" {
		if len(args) != 1 || dash >= 0 {
			return "", nil, fmt.Errorf("-c takes the whole command: %s [flags] RESOURCE -c 'shell command'", f.name)
		}
		args = append(args, "/bin/sh", "-c", f.command)
		dash = 1
	}
	if dash < 0 {
		if len(args) < 2 {
			return "", nil, fmt.Errorf("%s needs a command: %s [flags] RESOURCE [--] CMD [ARGS...]", f.name, f.name)
		}
		dash = 1
	}
	if dash != 1 {
		return "", nil, fmt.Errorf("%s takes one RESOURCE before --, got %d: %q", f.name, dash, args[:dash])
	}
	if len(args) < 2 {
		return "", nil, fmt.Errorf("%s needs a command after --", f.name)
	}
	return args[0], args[1:], f.check()
}

// check refuses options that contradict each other or are out of range,
// and reads --meta.
func (f *Flags) check() error {
	switch {
	case f.NoWait && f.Wait > 0:
		return fmt.Errorf("--wait and --no-wait exclude each other")
	case f.Wait < 0:
		return fmt.Errorf("--wait must not be negative")
	case f.Limit < 0:
		return fmt.Errorf("--limit must be at least 1")
	case f.Named && f.Hierarchical:
		return fmt.Errorf("--hierarchical already names a lock; drop --named")
	case f.ConflictExit < 0 || f.ConflictExit > 255:
		return fmt.Errorf("--conflict-exit-code must be 0..255, got %d", f.ConflictExit)
	}
	if f.Limit > 0 && !f.ModeSet {
		f.Mode = "shared"
	}
	for _, kv := range f.meta {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--meta wants k=v, got %q", kv)
		}
		if f.Meta == nil {
			f.Meta = map[string]string{}
		}
		f.Meta[k] = v
	}
	return nil
}

// Request is the agent request for these options on resource.
func (f *Flags) Request(resource string) agentproto.Request {
	req := agentproto.Request{Resource: resource, Mode: f.Mode, Limit: f.Limit, NoWait: f.NoWait,
		Hierarchical: f.Hierarchical, ConflictExit: f.ConflictExit, WaitMS: f.Wait.Milliseconds(), Meta: f.Meta}
	if f.Wait > 0 && req.WaitMS == 0 {
		req.WaitMS = 1
	}
	return req
}

// allOptions reports whether every argument looks like an option (or an
// option's value: the word after one that takes a value).
func allOptions(args []string) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return false
		}
		if !strings.Contains(a, "=") && takesValue(a) {
			i++ // its value
		}
	}
	return true
}

// takesValue reports whether the exec option a is followed by its value.
func takesValue(a string) bool {
	switch strings.TrimLeft(a, "-") {
	case "mode", "wait", "conflict-exit-code", "E", "ttl", "meta", "limit", "timeout", "w", "command", "c":
		return true
	}
	return false
}

// flockSpellings folds flock(1)'s options into exec's own, refusing
// combinations that contradict each other.
func (f *Flags) flockSpellings(timeoutSet, waitSet bool) error {
	if f.shared && f.exclusive {
		return fmt.Errorf("-s/--shared and -x/--exclusive exclude each other")
	}
	if f.shared || f.exclusive {
		want := "shared"
		if f.exclusive {
			want = "exclusive"
		}
		if f.ModeSet && f.Mode != want {
			return fmt.Errorf("--mode %s contradicts --%s", f.Mode, want)
		}
		f.Mode, f.ModeSet = want, true
	}
	if timeoutSet {
		switch {
		case waitSet:
			return fmt.Errorf("-w/--timeout and --wait say the same thing: give one")
		case f.timeout < 0 || f.timeout > 1e9:
			return fmt.Errorf("-w/--timeout wants seconds, 0 or more, got %v", f.timeout)
		case f.timeout == 0:
			// flock(1): a zero timeout does not wait.
			f.NoWait = true
		default:
			f.Wait = time.Duration(f.timeout * float64(time.Second))
		}
	}
	return nil
}
