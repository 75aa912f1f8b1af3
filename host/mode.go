package host

import (
	"fmt"
	"strings"
)

// Mode is a lock mode. Shared and Exclusive are the everyday ones; Update
// is a read that may become a write; the intention modes IS, IX and SIX
// are taken on the ancestors of a hierarchical resource.
type Mode uint8

// The lock modes.
const (
	IntentShared          Mode = iota + 1 // IS
	IntentExclusive                       // IX
	Shared                                // S
	SharedIntentExclusive                 // SIX
	Update                                // U
	Exclusive                             // X
)

// Familiar names for the modes.
const (
	Read  = Shared
	Write = Exclusive
)

var modeNames = map[Mode]string{
	IntentShared: "IS", IntentExclusive: "IX", Shared: "shared",
	SharedIntentExclusive: "SIX", Update: "update", Exclusive: "exclusive",
}

// compatible[held][wanted] is the compatibility table of DESIGN.md: can a
// request in mode `wanted` be granted beside one in mode `held`.
var compatible = [7][7]bool{
	IntentShared:          {IntentShared: true, IntentExclusive: true, Shared: true, SharedIntentExclusive: true, Update: true},
	IntentExclusive:       {IntentShared: true, IntentExclusive: true},
	Shared:                {IntentShared: true, Shared: true, Update: true},
	SharedIntentExclusive: {IntentShared: true},
	Update:                {IntentShared: true, Shared: true},
	Exclusive:             {},
}

// Compatible reports whether a request in mode wanted can be granted beside
// one in mode held.
func Compatible(held, wanted Mode) bool {
	if !held.valid() || !wanted.valid() {
		return false
	}
	return compatible[held][wanted]
}

func (m Mode) valid() bool { return m >= IntentShared && m <= Exclusive }

// String is the mode's canonical name.
func (m Mode) String() string {
	if s, ok := modeNames[m]; ok {
		return s
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// ParseMode reads a mode name: shared/read/S, exclusive/write/X, update/U,
// IS, IX, SIX (case-insensitive).
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "shared", "read", "s":
		return Shared, nil
	case "exclusive", "write", "x":
		return Exclusive, nil
	case "update", "u":
		return Update, nil
	case "is":
		return IntentShared, nil
	case "ix":
		return IntentExclusive, nil
	case "six":
		return SharedIntentExclusive, nil
	}
	return 0, fmt.Errorf("%w: unknown lock mode %q (want shared, exclusive, read, write or update)", ErrInvalidConfig, s)
}
