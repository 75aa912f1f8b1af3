//go:build !linux

package sdk

import "os"

// newAnchorPair reports that this platform has no anchor channel: sessions
// have no anchor, and a plugin crash ends them.
func newAnchorPair() (*anchorChannel, *os.File, error) { return nil, nil, nil }

// pluginAnchors returns nil: no anchor channel on this platform.
func pluginAnchors() (*anchorChannel, error) { return nil, nil }
