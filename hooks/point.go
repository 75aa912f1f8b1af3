package hooks

import (
	"fmt"

	"github.com/locksmithx/locksmith/sdk"
)

// Point is one place in the lifecycle of an operation where hooks run.
type Point string

// The points.
const (
	BeforeAcquire Point = "before_acquire"
	AfterAcquire  Point = "after_acquire"
	BeforeConvert Point = "before_convert"
	AfterConvert  Point = "after_convert"
	BeforeRelease Point = "before_release"
	AfterRelease  Point = "after_release"
	BeforeStatus  Point = "before_status"
	AfterStatus   Point = "after_status"
	BeforeCheck   Point = "before_check"
	AfterCheck    Point = "after_check"
	BeforeRepair  Point = "before_repair"
	AfterRepair   Point = "after_repair"
	// AfterRenew follows each renewal of the host's session. A renewal
	// cannot be refused: there is no BeforeRenew.
	AfterRenew Point = "after_renew"
	// OnLost follows the loss of a lease (its session expired, its backend
	// went away).
	OnLost Point = "on_lost"
	// OnChange follows a change of a resource whose status went through
	// the chain, as the backend's watch delivers it, for as long as the
	// host follows the resource (see the host's docs).
	OnChange Point = "on_change"
)

// Points lists every point, in lifecycle order.
var Points = []Point{
	BeforeAcquire, AfterAcquire, BeforeConvert, AfterConvert, BeforeRelease, AfterRelease,
	BeforeStatus, AfterStatus, BeforeCheck, AfterCheck, BeforeRepair, AfterRepair,
	AfterRenew, OnLost, OnChange,
}

// points maps each point to its phase and operation.
var points = map[Point]struct {
	phase sdk.Phase
	op    string
}{
	BeforeAcquire: {sdk.Before, sdk.OpAcquire}, AfterAcquire: {sdk.After, sdk.OpAcquire},
	BeforeConvert: {sdk.Before, sdk.OpConvert}, AfterConvert: {sdk.After, sdk.OpConvert},
	BeforeRelease: {sdk.Before, sdk.OpRelease}, AfterRelease: {sdk.After, sdk.OpRelease},
	BeforeStatus: {sdk.Before, sdk.OpStatus}, AfterStatus: {sdk.After, sdk.OpStatus},
	BeforeCheck: {sdk.Before, sdk.OpCheck}, AfterCheck: {sdk.After, sdk.OpCheck},
	BeforeRepair: {sdk.Before, sdk.OpRepair}, AfterRepair: {sdk.After, sdk.OpRepair},
	AfterRenew: {sdk.After, sdk.OpRenew}, OnLost: {sdk.After, sdk.OpLost}, OnChange: {sdk.After, sdk.OpChange},
}

// PointOf is the point of operation op in phase; "" when op has none.
func PointOf(phase sdk.Phase, op string) Point {
	for p, v := range points {
		if v.phase == phase && v.op == op {
			return p
		}
	}
	return ""
}

// Phase is the phase the point runs in.
func (p Point) Phase() sdk.Phase { return points[p].phase }

// Op is the operation the point belongs to.
func (p Point) Op() string { return points[p].op }

// Set is a set of points. The empty set stands for every point.
type Set map[Point]bool

// Has reports whether the set holds p (an empty set holds every point).
func (s Set) Has(p Point) bool { return len(s) == 0 || s[p] }

// Names returns the points of the set, in lifecycle order.
func (s Set) Names() []string {
	out := []string{}
	for _, p := range Points {
		if s.Has(p) {
			out = append(out, string(p))
		}
	}
	return out
}

// ParsePoints checks names against the known points and returns their
// set; no names is every point.
func ParsePoints(names []string) (Set, error) {
	out := Set{}
	for _, n := range names {
		if _, ok := points[Point(n)]; !ok {
			return nil, fmt.Errorf("%w: %q (known: %v)", ErrUnknownPoint, n, Points)
		}
		out[Point(n)] = true
	}
	return out, nil
}

// SetOf is the set of the points given.
func SetOf(ps ...Point) Set {
	out := Set{}
	for _, p := range ps {
		out[p] = true
	}
	return out
}
