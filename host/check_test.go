package host

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckFindsAndRepairFixesCorruptState(t *testing.T) {
	dir := t.TempDir()
	h := newTestHost(t, dir)
	ctx := testCtx(t)
	r, err := FileResource(filepath.Join(dir, "R"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := h.Acquire(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if ps, err := h.Check(ctx, r); err != nil || len(ps) != 0 {
		t.Fatalf("Check of sound state: %v, %v", ps, err)
	}
	f, err := os.OpenFile(r+".locksmith", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt([]byte(strings.Repeat("\xa5garbage", 64)), 8)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	ps, err := h.Check(ctx, r)
	if err != nil || len(ps) == 0 || ps[0].Resource != r || ps[0].Path != r+".locksmith" || ps[0].Repaired {
		t.Fatalf("Check of corrupt state: %+v, %v", ps, err)
	}
	if _, err := h.Acquire(ctx, r); err == nil {
		t.Fatal("a corrupt state file granted a lock")
	}
	ps, err = h.Repair(ctx, r)
	if err != nil || len(ps) == 0 || !ps[0].Repaired {
		t.Fatalf("Repair: %+v, %v", ps, err)
	}
	if ps, err := h.Check(ctx, r); err != nil || len(ps) != 0 {
		t.Fatalf("Check after Repair: %v, %v", ps, err)
	}
	l, err = h.Acquire(ctx, r)
	if err != nil {
		t.Fatalf("lock after Repair: %v", err)
	}
	_ = l.Release(ctx)
	if _, err := h.Check(ctx, "/"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Check of an invalid resource: %v, want ErrInvalidArgument", err)
	}
}
