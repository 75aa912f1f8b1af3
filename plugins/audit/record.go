package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Record is one line of the audit log.
type Record struct {
	// Seq numbers the lines from 1, across rotated files.
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Principal string    `json:"principal"`
	PID       int       `json:"pid"`
	Host      string    `json:"host"`
	Op        string    `json:"op"`
	Resource  string    `json:"resource,omitempty"`
	Mode      string    `json:"mode,omitempty"`
	Token     int64     `json:"token,omitempty"`
	// Outcome is ok, denied or failed; Code and Reason say why not ok.
	Outcome   string            `json:"outcome"`
	Code      string            `json:"code,omitempty"`
	Reason    string            `json:"reason,omitempty"`
	LatencyUS int64             `json:"latency_us"`
	Meta      map[string]string `json:"meta,omitempty"`
	// Prev is the hex SHA-256 of the line before (of Genesis for the
	// first line).
	Prev string `json:"prev"`
}

// Genesis is the Prev of the first line of a log.
var Genesis = hex.EncodeToString(make([]byte, sha256.Size))

// hashLine is the hex SHA-256 of one line, without its newline.
func hashLine(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// head is what PATH.head holds: the last line written.
type head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}
