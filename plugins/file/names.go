package file

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/locksmithx/locksmith/sdk"
)

// maxEscapedName is the longest escaped name used as a file name as is;
// longer names are hashed (file names are limited to 255 bytes).
const maxEscapedName = 200

// statePath returns the state file of resource. A resource that is an
// absolute path keeps its state beside the file: "/data/counter" →
// "/data/counter.locksmith". Any other resource is a named lock whose state
// lives in the named directory under its escaped name: "db/migrate" →
// "<named_dir>/db%2Fmigrate.locksmith".
func (s settings) statePath(resource string) (string, error) {
	if resource == "" {
		return "", sdk.Errorf(sdk.CodeInvalidArgument, "resource name is empty")
	}
	if strings.IndexByte(resource, 0) >= 0 {
		return "", sdk.Errorf(sdk.CodeInvalidArgument, "resource %q contains a NUL byte", resource)
	}
	if filepath.IsAbs(resource) {
		p := filepath.Clean(resource)
		if p == "/" {
			return "", sdk.Errorf(sdk.CodeInvalidArgument, "resource %q: the root directory has no place beside it for state", resource)
		}
		return p + s.suffix, nil
	}
	return filepath.Join(s.namedDir, escapeName(resource)+s.suffix), nil
}

// escapeName turns a lock name into a file name that cannot leave its
// directory: letters, digits, '-', '_' and non-leading '.' stay, every other
// byte becomes %XX. Names whose escape is too long become "~" and a hash
// (the state file still records the name).
func escapeName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	if b.Len() > maxEscapedName {
		sum := sha256.Sum256([]byte(name))
		return "~" + hex.EncodeToString(sum[:20])
	}
	return b.String()
}

// unescapeName reverses escapeName; ok is false for hashed or foreign names.
func unescapeName(s string) (string, bool) {
	if strings.HasPrefix(s, "~") {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		v, err := hex.DecodeString(s[i+1 : i+3])
		if err != nil {
			return "", false
		}
		b.WriteByte(v[0])
		i += 2
	}
	return b.String(), true
}
