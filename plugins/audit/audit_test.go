package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// writeLog records n operations through a configured middleware and
// returns the log's path.
func writeLog(t *testing.T, cfg sdk.Config, n int) string {
	t.Helper()
	m := New()
	if err := m.Configure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		in := sdk.Interception{Phase: sdk.After, Op: sdk.OpAcquire, Resource: "jobs/nightly", Mode: "exclusive",
			Principal: "alice", PID: 42, Host: "box", FencingToken: int64(i + 1), Latency: time.Millisecond}
		if i%3 == 2 {
			in.Result, in.ResultCode = "locksmith: denied by rbac: no rule", sdk.CodeDenied
		}
		if _, err := m.Intercept(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	return cfg["path"].(string)
}

func lines(t *testing.T, path string) [][]byte {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
}

func rewrite(t *testing.T, path string, ls [][]byte) {
	out := bytes.Join(ls, nil)
	if !bytes.HasSuffix(out, []byte("\n")) {
		out = append(out, '\n')
	}
	if err := os.WriteFile(path, out, 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyCatchesTampering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func([][]byte) [][]byte
		want   string
	}{
		{"edit", func(ls [][]byte) [][]byte {
			ls[3] = bytes.Replace(ls[3], []byte(`"alice"`), []byte(`"mallory"`), 1)
			return ls
		}, ":4: edited"},
		{"edit-last", func(ls [][]byte) [][]byte {
			ls[9] = bytes.Replace(ls[9], []byte(`"alice"`), []byte(`"mallory"`), 1)
			return ls
		}, ":10: edited"},
		{"delete", func(ls [][]byte) [][]byte { return append(ls[:4], ls[5:]...) }, ":5: removed or reordered"},
		{"delete-first", func(ls [][]byte) [][]byte { return ls[1:] }, ":1: removed"},
		{"reorder", func(ls [][]byte) [][]byte { ls[5], ls[6] = ls[6], ls[5]; return ls }, ":6: removed or reordered"},
		{"truncate", func(ls [][]byte) [][]byte { return ls[:7] }, "truncated"},
		{"cut-line", func(ls [][]byte) [][]byte { ls[9] = ls[9][:20]; return ls }, ":10: not an audit record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeLog(t, sdk.Config{"path": filepath.Join(t.TempDir(), "audit.log")}, 10)
			if _, err := Verify(path); err != nil {
				t.Fatalf("untouched log: %v", err)
			}
			rewrite(t, path, tc.damage(lines(t, path)))
			_, err := Verify(path)
			var p *Problem
			if !errors.Is(err, ErrTampered) || !errors.As(err, &p) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("verify after %s: %v, want %q", tc.name, err, tc.want)
			}
		})
	}
}

func TestVerifyAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	cfg := sdk.Config{"path": path, "max_size": 2048, "fsync": "never", "level": "full"}
	writeLog(t, cfg, 40)
	// Reopening continues the chain.
	writeLog(t, cfg, 5)
	rotated, err := rotatedFiles(path)
	if err != nil || len(rotated) < 2 {
		t.Fatalf("rotated files: %v, %v; want at least two", rotated, err)
	}
	sum, err := Verify(path)
	if err != nil || sum.Lines != 45 || len(sum.Files) != len(rotated)+1 {
		t.Fatalf("verify across rotation: %+v, %v", sum, err)
	}
	// A rotated file removed breaks the chain at the next file's first line.
	if err := os.Remove(rotated[0].path); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(path); !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("verify without the oldest file: %v", err)
	}
}

func TestRecordFields(t *testing.T) {
	path := writeLog(t, sdk.Config{"path": filepath.Join(t.TempDir(), "audit.log")}, 3)
	ls := lines(t, path)
	for _, want := range []string{`"principal":"alice"`, `"pid":42`, `"host":"box"`, `"op":"acquire"`,
		`"resource":"jobs/nightly"`, `"mode":"exclusive"`, `"token":1`, `"outcome":"ok"`, `"latency_us":1000`, `"time":`} {
		if !bytes.Contains(ls[0], []byte(want)) {
			t.Errorf("line 1 lacks %s: %s", want, ls[0])
		}
	}
	if !bytes.Contains(ls[2], []byte(`"outcome":"denied"`)) || !bytes.Contains(ls[2], []byte(`"code":"DENIED"`)) {
		t.Errorf("a denial is not recorded as one: %s", ls[2])
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		cfg  sdk.Config
		want string
	}{
		{sdk.Config{"paht": "x"}, "paht"},
		{sdk.Config{}, "path: required"},
		{sdk.Config{"path": "/tmp/x", "level": "verbose"}, "level:"},
		{sdk.Config{"path": "/tmp/x", "fsync": "sometimes"}, "fsync:"},
		{sdk.Config{"path": "/tmp/x", "max_size": 10}, "max_size:"},
	} {
		err := New().Configure(context.Background(), tc.cfg)
		if !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("configure %v: %v, want ErrInvalidConfig naming %q", tc.cfg, err, tc.want)
		}
	}
}

// TestSharedLog: several processes' plugins append to one log (each
// locksmith command runs its own); the chain stays whole across their
// lines and their rotations.
func TestSharedLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	cfg := sdk.Config{"path": path, "fsync": "never", "max_size": 4096}
	const writers, each = 4, 60
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func() {
			m := New()
			if err := m.Configure(context.Background(), cfg); err != nil {
				errs <- err
				return
			}
			defer m.Close()
			for i := 0; i < each; i++ {
				in := sdk.Interception{Phase: sdk.After, Op: sdk.OpAcquire, Resource: "shared", Principal: "p"}
				if _, err := m.Intercept(context.Background(), in); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < writers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	sum, err := Verify(path)
	if err != nil || sum.Lines != writers*each || len(sum.Files) < 2 {
		t.Fatalf("verify a shared, rotated log: %+v, %v", sum, err)
	}
}
