package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// chainLog appends records to the audit log, each chained to the one
// before, rotating by size. It is safe for concurrent use, and several
// processes may share one log (every locksmith command runs its own
// plugin): each append holds an exclusive flock on PATH.head, reads the
// chain's end from it, and follows a rotation another process made.
type chainLog struct {
	s     settings
	mu    sync.Mutex
	f     *os.File // PATH, O_APPEND
	head  *os.File // PATH.head: the lock, and the last line's seq and hash
	dirty bool     // written since the last fsync
	stop  chan struct{}
	done  chan struct{}
}

// openLog opens (creating) the log and its head.
func openLog(s settings) (*chainLog, error) {
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o750); err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	l := &chainLog{s: s}
	h, err := os.OpenFile(headPath(s.Path), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	l.head = h
	if _, err := l.readHead(); err != nil {
		h.Close()
		return nil, err
	}
	if err := l.open(); err != nil {
		h.Close()
		return nil, err
	}
	if s.Fsync == FsyncInterval {
		l.stop, l.done = make(chan struct{}), make(chan struct{})
		go l.syncEvery(s.interval)
	}
	return l, nil
}

func headPath(path string) string { return path + ".head" }

func (l *chainLog) open() error {
	f, err := os.OpenFile(l.s.Path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("open audit log: %w", err)
	}
	l.f = f
	return nil
}

// readHead reads the chain's end from PATH.head: Genesis when empty.
func (l *chainLog) readHead() (head, error) {
	buf := make([]byte, headSize)
	n, err := l.head.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return head{}, fmt.Errorf("read audit head: %w", err)
	}
	if len(bytes.TrimSpace(buf[:n])) == 0 {
		return head{Hash: Genesis}, nil
	}
	var h head
	if err := json.Unmarshal(buf[:n], &h); err != nil {
		return head{}, fmt.Errorf("read audit head: %s is damaged (%v); run `locksmith audit verify %s`", headPath(l.s.Path), err, l.s.Path)
	}
	return h, nil
}

// current makes l.f the file at PATH, reopening it when another process
// rotated the log, and returns its size. The head's lock is held.
func (l *chainLog) current() (int64, error) {
	st, err := l.f.Stat()
	if err != nil {
		return 0, fmt.Errorf("append to audit log: %w", err)
	}
	if now, err := os.Stat(l.s.Path); err != nil || !os.SameFile(st, now) {
		l.f.Close()
		if err := l.open(); err != nil {
			return 0, err
		}
		if st, err = l.f.Stat(); err != nil {
			return 0, fmt.Errorf("append to audit log: %w", err)
		}
	}
	return st.Size(), nil
}

// append chains r to the log and writes it as one line.
func (l *chainLog) append(r Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return fmt.Errorf("append to audit log: closed")
	}
	if err := syscall.Flock(int(l.head.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock audit log: %w", err)
	}
	defer func() { _ = syscall.Flock(int(l.head.Fd()), syscall.LOCK_UN) }()
	last, err := l.readHead()
	if err != nil {
		return err
	}
	size, err := l.current()
	if err != nil {
		return err
	}
	r.Seq, r.Prev = last.Seq+1, last.Hash
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("append to audit log: %w", err)
	}
	if l.s.MaxSize > 0 && size > 0 && size+int64(len(line))+1 > l.s.MaxSize {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	if _, err := l.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("append to audit log %s: %w", l.s.Path, err)
	}
	l.dirty = true
	if l.s.Fsync == FsyncAlways {
		if err := l.f.Sync(); err != nil {
			return fmt.Errorf("sync audit log %s: %w", l.s.Path, err)
		}
		l.dirty = false
	}
	return l.writeHead(head{Seq: r.Seq, Hash: hashLine(line)})
}

// headSize is the fixed size PATH.head is written at: one write of it in
// place, at offset 0, within one disk sector (a rename per line cost a
// flush on ext4: 1.7 ms a line).
const headSize = 128

// writeHead writes h over PATH.head, padded with spaces (valid JSON white
// space) to headSize.
func (l *chainLog) writeHead(h head) error {
	raw, _ := json.Marshal(h)
	buf := bytes.Repeat([]byte(" "), headSize)
	copy(buf, raw)
	buf[headSize-1] = '\n'
	if _, err := l.head.WriteAt(buf, 0); err != nil {
		return fmt.Errorf("write audit head: %w", err)
	}
	if l.s.Fsync == FsyncAlways {
		if err := l.head.Sync(); err != nil {
			return fmt.Errorf("sync audit head: %w", err)
		}
	}
	return nil
}

// rotate moves the log to PATH.N (N one more than the newest rotated
// file) and starts an empty one. l.mu is held.
func (l *chainLog) rotate() error {
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("rotate audit log: %w", err)
	}
	l.f.Close()
	l.f = nil
	rotated, err := rotatedFiles(l.s.Path)
	if err != nil {
		return fmt.Errorf("rotate audit log: %w", err)
	}
	next := 1
	if len(rotated) > 0 {
		next = rotated[len(rotated)-1].n + 1
	}
	if err := os.Rename(l.s.Path, l.s.Path+"."+strconv.Itoa(next)); err != nil {
		_ = l.open()
		return fmt.Errorf("rotate audit log: %w", err)
	}
	return l.open()
}

type rotatedFile struct {
	path string
	n    int
}

// rotatedFiles lists PATH.1, PATH.2, … oldest first.
func rotatedFiles(path string) ([]rotatedFile, error) {
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	base := filepath.Base(path) + "."
	var out []rotatedFile
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), base)
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(rest); err == nil && n > 0 {
			out = append(out, rotatedFile{path: filepath.Join(filepath.Dir(path), e.Name()), n: n})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n < out[j].n })
	return out, nil
}

func (l *chainLog) syncEvery(d time.Duration) {
	defer close(l.done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.mu.Lock()
			if l.dirty && l.f != nil {
				_ = l.f.Sync()
				if l.head != nil {
					_ = l.head.Sync()
				}
				l.dirty = false
			}
			l.mu.Unlock()
		}
	}
}

// close syncs and closes the log.
func (l *chainLog) close() error {
	if l.stop != nil {
		close(l.stop)
		<-l.done
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	if l.head != nil {
		if herr := l.head.Sync(); err == nil {
			err = herr
		}
		l.head.Close()
		l.head = nil
	}
	return err
}
