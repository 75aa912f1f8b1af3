package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// ErrTampered is wrapped by every Verify error about the log's content.
var ErrTampered = errors.New("audit: log tampered with")

// Problem locates the first break in a log's chain.
type Problem struct {
	File string
	// Line is the 1-based line in File; 0 for a problem with the log's
	// end (PATH.head).
	Line   int
	Reason string
}

func (p *Problem) Error() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Reason)
	}
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Reason)
}

func (p *Problem) Unwrap() error { return ErrTampered }

// Summary is what Verify checked.
type Summary struct {
	Files []string
	Lines uint64
}

// Verify checks the audit log at path, with its rotated files (PATH.1,
// PATH.2, …) before it and PATH.head after it: every line must be
// unaltered JSON whose seq follows the line before and whose prev is that
// line's SHA-256, and the last line must be the one PATH.head names. The
// first break is returned as a *Problem wrapping ErrTampered, naming the
// first line that was edited, removed or reordered, or the truncated end.
func Verify(path string) (Summary, error) {
	var sum Summary
	rotated, err := rotatedFiles(path)
	if err != nil {
		return sum, fmt.Errorf("verify audit log: %w", err)
	}
	for _, r := range rotated {
		sum.Files = append(sum.Files, r.path)
	}
	sum.Files = append(sum.Files, path)
	last := head{Hash: Genesis}
	var lastFile string
	var lastLine int
	for _, file := range sum.Files {
		f, err := os.Open(file)
		if err != nil {
			return sum, fmt.Errorf("verify audit log: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 16<<20)
		n := 0
		for sc.Scan() {
			n++
			line := sc.Bytes()
			var r Record
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&r); err != nil {
				f.Close()
				return sum, &Problem{File: file, Line: n, Reason: fmt.Sprintf("not an audit record (edited or cut): %v", err)}
			}
			if p := follows(r, last, file, n, lastFile, lastLine); p != nil {
				f.Close()
				return sum, p
			}
			last = head{Seq: r.Seq, Hash: hashLine(line)}
			lastFile, lastLine = file, n
			sum.Lines++
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return sum, fmt.Errorf("verify audit log %s: %w", file, err)
		}
	}
	raw, err := os.ReadFile(headPath(path))
	if os.IsNotExist(err) && sum.Lines == 0 {
		return sum, nil
	}
	if err != nil {
		return sum, &Problem{File: headPath(path), Reason: fmt.Sprintf("the log's head is missing, so its end cannot be checked: %v", err)}
	}
	var h head
	if err := json.Unmarshal(raw, &h); err != nil {
		return sum, &Problem{File: headPath(path), Reason: fmt.Sprintf("the log's head is damaged: %v", err)}
	}
	switch {
	case h.Seq > last.Seq:
		return sum, &Problem{File: path, Reason: fmt.Sprintf("truncated: the log ends at seq %d, but %d lines were written (lines %d to %d are gone)", last.Seq, h.Seq, last.Seq+1, h.Seq)}
	case h.Seq < last.Seq:
		return sum, &Problem{File: path, Reason: fmt.Sprintf("lines were added after seq %d, the last one written", h.Seq)}
	case h.Hash != last.Hash:
		return sum, &Problem{File: lastFile, Line: lastLine, Reason: "edited: the last line is not the one written"}
	}
	return sum, nil
}

// follows checks that record r, at line n of file, follows the line
// before (prev, at prevLine of prevFile).
func follows(r Record, prev head, file string, n int, prevFile string, prevLine int) *Problem {
	switch {
	case r.Seq == prev.Seq+1 && r.Prev == prev.Hash:
		return nil
	case r.Seq == prev.Seq+1:
		if prevLine == 0 {
			return &Problem{File: file, Line: n, Reason: "the first line does not start the chain (earlier lines or files removed)"}
		}
		return &Problem{File: prevFile, Line: prevLine, Reason: fmt.Sprintf("edited: seq %d does not hash to what the next line recorded", prev.Seq)}
	case r.Seq > prev.Seq+1:
		return &Problem{File: file, Line: n, Reason: fmt.Sprintf("removed or reordered: seq %d follows seq %d (seq %d to %d are missing here)", r.Seq, prev.Seq, prev.Seq+1, r.Seq-1)}
	default:
		return &Problem{File: file, Line: n, Reason: fmt.Sprintf("reordered: seq %d comes after seq %d", r.Seq, prev.Seq)}
	}
}
