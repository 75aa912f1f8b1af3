package host

import "testing"

func TestCompatibilityTableIsSymmetric(t *testing.T) {
	modes := []Mode{IntentShared, IntentExclusive, Shared, SharedIntentExclusive, Update, Exclusive}
	for _, a := range modes {
		for _, b := range modes {
			// U is the one asymmetric pair: U may join S holders, S may
			// join a U holder too; U and U exclude each other.
			if Compatible(a, b) != Compatible(b, a) {
				t.Errorf("compatible(%v,%v)=%v but compatible(%v,%v)=%v", a, b, Compatible(a, b), b, a, Compatible(b, a))
			}
		}
	}
	if Compatible(Update, Update) || Compatible(Exclusive, IntentShared) || !Compatible(Shared, Shared) || !Compatible(IntentExclusive, IntentExclusive) {
		t.Error("table does not match DESIGN.md")
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"shared": Shared, "READ": Shared, "write": Exclusive, "exclusive": Exclusive, "update": Update, "six": SharedIntentExclusive} {
		got, err := ParseMode(in)
		if err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseMode("sharde"); err == nil {
		t.Error("ParseMode accepted a typo")
	}
}
