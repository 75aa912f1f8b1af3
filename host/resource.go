package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxNameLen bounds a named lock's name.
const maxNameLen = 1024

// FileResource normalises a file path into the resource key of its lock:
// an absolute, cleaned path with symbolic links resolved (of the file if it
// exists, else of its directory), so that every spelling of one file locks
// the same resource.
func FileResource(path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%w: empty file path", ErrInvalidConfig)
	}
	if strings.IndexByte(path, 0) >= 0 {
		return "", fmt.Errorf("%w: file path contains a NUL byte", ErrInvalidConfig)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%w: file path %q: %v", ErrInvalidConfig, path, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: file path %q: %v", ErrInvalidConfig, path, err)
	}
	dir, base := filepath.Split(abs)
	if realDir, err := filepath.EvalSymlinks(dir); err == nil {
		return filepath.Join(realDir, base), nil
	}
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("%w: file path %q: directory %s: %v", ErrInvalidConfig, path, dir, err)
	}
	return abs, nil
}

// NamedResource checks a lock name and returns its resource key. A name is
// any non-empty text up to 1024 bytes without NUL that does not start with
// "/" (those are file paths); surrounding white space is trimmed.
func NamedResource(name string) (string, error) {
	n := strings.TrimSpace(name)
	switch {
	case n == "":
		return "", fmt.Errorf("%w: empty lock name", ErrInvalidConfig)
	case strings.HasPrefix(n, "/"):
		return "", fmt.Errorf("%w: lock name %q starts with /: use a file lock for paths", ErrInvalidConfig, name)
	case len(n) > maxNameLen:
		return "", fmt.Errorf("%w: lock name is %d bytes long (at most %d)", ErrInvalidConfig, len(n), maxNameLen)
	case strings.IndexByte(n, 0) >= 0:
		return "", fmt.Errorf("%w: lock name contains a NUL byte", ErrInvalidConfig)
	}
	return n, nil
}
