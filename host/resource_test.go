package host

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestFileResourceResolvesDanglingSymlinks(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][2]string{
		{"tgt", "dl"},                      // dangling, relative
		{filepath.Join(dir, "tgt"), "abs"}, // dangling, absolute
		{"dl", "chain"},                    // a link to a dangling link
		{"sub", "subl"},                    // a link to a directory
		{"../tgt", "sub/up"},               // relative to the link's own directory
		{"loop2", "loop1"},
		{"loop1", "loop2"},
	} {
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	want := filepath.Join(dir, "tgt")
	for _, p := range []string{"dl", "abs", "chain", "tgt", "sub/../tgt", "subl/up", "sub/up", "./dl"} {
		got, err := FileResource(filepath.Join(dir, p))
		if err != nil || got != want {
			t.Errorf("FileResource(%s) = %q, %v; want %q", p, got, err, want)
		}
	}
	// Once the target exists, nothing changes.
	if err := os.WriteFile(want, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := FileResource(filepath.Join(dir, "dl")); err != nil || got != want {
		t.Errorf("after creating the target: %q, %v; want %q", got, err, want)
	}
	if got, err := FileResource(filepath.Join(dir, "subl", "x")); err != nil || got != filepath.Join(sub, "x") {
		t.Errorf("through a directory link: %q, %v", got, err)
	}
	if _, err := FileResource(filepath.Join(dir, "loop1")); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("symlink loop: %v, want ErrInvalidArgument", err)
	}
	if _, err := FileResource(filepath.Join(dir, "missing", "x")); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("missing directory: %v, want ErrInvalidArgument", err)
	}
	if _, err := FileResource(filepath.Join(want, "x")); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("a file used as a directory: %v, want ErrInvalidArgument", err)
	}
}

func TestFileResourceKeepsHardLinksApart(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.WriteFile(a, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(a, b); err != nil {
		t.Fatal(err)
	}
	ra, _ := FileResource(a)
	rb, _ := FileResource(b)
	if ra != a || rb != b {
		t.Fatalf("hard links %q and %q: keys %q and %q; each keeps its own name", a, b, ra, rb)
	}
}

func TestNamedResourceRejectsBadNames(t *testing.T) {
	for _, n := range []string{"", "  ", "/etc/passwd", "a\x00b", string(make([]byte, maxNameLen+1))} {
		if _, err := NamedResource(n); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("NamedResource(%q): %v, want ErrInvalidArgument", n, err)
		}
	}
}
