package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxNameLen bounds a named lock's name.
const maxNameLen = 1024

// maxSymlinks bounds the symbolic links followed while resolving one path,
// as the kernel's ELOOP limit does.
const maxSymlinks = 40

// FileResource normalises a file path into the resource key of its lock:
// an absolute, cleaned path with every symbolic link resolved, dangling ones
// included (as `realpath -m` does), so that every spelling of one file —
// through links to it, and through a link to a file that does not exist
// yet — locks the same resource. The file need not exist; its directory
// must. A symlink loop is an error (ErrInvalidArgument).
//
// Hard links are not resolved: a lock's state lives beside the name it was
// taken by, so two hard links to one file are two separate locks. Lock one
// agreed name.
func FileResource(path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%w: empty file path", ErrInvalidArgument)
	}
	if strings.IndexByte(path, 0) >= 0 {
		return "", fmt.Errorf("%w: file path contains a NUL byte", ErrInvalidArgument)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%w: file path %q: %v", ErrInvalidArgument, path, err)
	}
	real, err := resolvePath(abs)
	if err != nil {
		return "", fmt.Errorf("%w: file path %q: %v", ErrInvalidArgument, path, err)
	}
	dir := filepath.Dir(real)
	if fi, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("%w: file path %q: directory %s: %v", ErrInvalidArgument, path, dir, err)
	} else if !fi.IsDir() {
		return "", fmt.Errorf("%w: file path %q: %s is not a directory", ErrInvalidArgument, path, dir)
	}
	return real, nil
}

// resolvePath resolves every symbolic link in abs, an absolute path, one
// component at a time. A component that does not exist is kept as it is
// written, and so is the rest of the path after it, "." and ".." aside.
func resolvePath(abs string) (string, error) {
	resolved := "/"
	rest := strings.Split(abs, "/")
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			resolved = filepath.Dir(resolved)
			continue
		}
		next := filepath.Join(resolved, c)
		fi, err := os.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) {
			resolved = next
			continue
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if links++; links > maxSymlinks {
			return "", fmt.Errorf("%s: %w", next, syscall.ELOOP)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			resolved = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return resolved, nil
}

// NamedResource checks a lock name and returns its resource key. A name is
// any non-empty text up to 1024 bytes without NUL that does not start with
// "/" (those are file paths); surrounding white space is trimmed. A name
// that breaks these rules is ErrInvalidArgument.
func NamedResource(name string) (string, error) {
	n := strings.TrimSpace(name)
	switch {
	case n == "":
		return "", fmt.Errorf("%w: empty lock name", ErrInvalidArgument)
	case strings.HasPrefix(n, "/"):
		return "", fmt.Errorf("%w: lock name %q starts with /: use a file lock for paths", ErrInvalidArgument, name)
	case len(n) > maxNameLen:
		return "", fmt.Errorf("%w: lock name is %d bytes long (at most %d)", ErrInvalidArgument, len(n), maxNameLen)
	case strings.IndexByte(n, 0) >= 0:
		return "", fmt.Errorf("%w: lock name contains a NUL byte", ErrInvalidArgument)
	}
	return n, nil
}
