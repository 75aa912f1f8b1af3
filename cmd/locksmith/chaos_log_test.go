package main

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// chaosLine is one line of the workers' log.
type chaosLine struct {
	kind  string // enter, spawn, term, exit, overlap
	who   string // for an overlap: entry, worker or grandchild
	pid   int
	token string
	saw   string // owner file content an enter or overlap found
	child int    // for a spawn: the grandchild's pid
}

func (c *chaos) readLog() []chaosLine {
	f, err := os.Open(c.log)
	if err != nil {
		c.t.Fatalf("no worker ever ran: %v", err)
	}
	defer f.Close()
	var out []chaosLine
	for sc := bufio.NewScanner(f); sc.Scan(); {
		text := sc.Text()
		fl := strings.Fields(text)
		var l chaosLine
		if i, j := strings.IndexByte(text, '['), strings.LastIndexByte(text, ']'); i >= 0 && j > i {
			l.saw = text[i+1 : j]
		}
		switch {
		case len(fl) >= 3 && (fl[0] == "enter" || fl[0] == "exit" || fl[0] == "spawn" || fl[0] == "term"):
			l.kind, l.token = fl[0], fl[2]
			l.pid, _ = strconv.Atoi(fl[1])
			if fl[0] == "spawn" && len(fl) >= 4 {
				l.child, _ = strconv.Atoi(fl[3])
			}
		case len(fl) >= 4 && fl[0] == "overlap":
			l.kind, l.who, l.token = "overlap", fl[1], fl[3]
			l.pid, _ = strconv.Atoi(fl[2])
		default:
			c.t.Errorf("chaos log: unreadable line %q", text)
			continue
		}
		out = append(out, l)
	}
	return out
}

// verify reads the workers' log and reports every overlap, token order
// violation and failed run, with what was killed.
func (c *chaos) verify() {
	lines := c.readLog()
	c.mu.Lock()
	defer c.mu.Unlock()
	var entered, completed, stopped int
	var prevTok int64
	var prevTokStr string
	type pair struct{ who, token, saw string }
	overlaps := map[pair]int{}
	var order []pair
	byWho := map[string]int{}
	for _, l := range lines {
		switch l.kind {
		case "enter":
			entered++
			tok, err := strconv.ParseInt(l.token, 10, 64)
			if err != nil {
				c.t.Errorf("worker %d entered with fencing token %q", l.pid, l.token)
				continue
			}
			if tok <= prevTok {
				c.t.Errorf("fencing token %s entered after %s: tokens must rise in grant order", l.token, prevTokStr)
			}
			prevTok, prevTokStr = tok, l.token
		case "exit":
			completed++
		case "term":
			stopped++
		case "overlap":
			k := pair{l.who, l.token, l.saw}
			if overlaps[k] == 0 {
				order = append(order, k)
				byWho[l.who]++
			}
			overlaps[k]++
		}
	}
	byKill := map[string]int{}
	for _, k := range order {
		l := chaosLine{who: k.who, token: k.token, saw: k.saw}
		for _, ln := range lines {
			if ln.kind == "overlap" && ln.who == k.who && ln.token == k.token && ln.saw == k.saw {
				l = ln
				break
			}
		}
		byKill[c.killKind(k.token)]++
		c.t.Errorf("OVERLAP (seen %d×): %s", overlaps[k], c.explain(l))
	}
	var kinds []string
	for _, k := range killKinds {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, c.kills[k]))
	}
	var codes []string
	for code, n := range c.exits {
		codes = append(codes, fmt.Sprintf("%d×%d", code, n))
	}
	sort.Strings(codes)
	var after []string
	for _, k := range append(append([]string{}, killKinds...), "") {
		if byKill[k] > 0 {
			name := k
			if k == "" {
				name = "nothing killed"
			}
			after = append(after, fmt.Sprintf("%s %d", name, byKill[k]))
		}
	}
	c.t.Logf("chaos: %s; %d critical sections entered, %d completed, %d stopped by SIGTERM; kills: %s; exec exits (code×count): %s (%d still queued at the end); "+
		"overlaps: %d seen on entry, %d by a worker, %d by a grandchild; what had been killed of the holders that ran on: %s",
		time.Since(c.start).Round(time.Millisecond), entered, completed, stopped, strings.Join(kinds, ", "), strings.Join(codes, " "), c.late,
		byWho["entry"], byWho["worker"], byWho["grandchild"], strings.Join(after, ", "))
	for _, f := range c.fails {
		c.t.Errorf("failed run: %s", f)
	}
	if completed == 0 {
		c.t.Error("no critical section completed")
	}
}

// killKind is the kind of the kill aimed at the holder with token, or "".
func (c *chaos) killKind(token string) string {
	k := c.killed[token]
	for _, kind := range killKinds {
		if strings.HasPrefix(k, "its "+kind+" ") {
			return kind
		}
	}
	return ""
}

// explain says what one overlap line means, naming the holders involved
// and what had been killed of each.
func (c *chaos) explain(l chaosLine) string {
	holder := func(tok string) string {
		if k, ok := c.killed[tok]; ok {
			return "token " + tok + " (" + k + ")"
		}
		return "token " + tok + " (nothing of it killed)"
	}
	other := "the owner file was empty (a later holder had ended and cleared it)"
	if f := strings.Fields(l.saw); len(f) == 2 {
		other = fmt.Sprintf("the owner file named worker %s of %s", f[0], holder(f[1]))
	}
	switch l.who {
	case "entry":
		return fmt.Sprintf("worker %d of %s entered while the previous holder was still running: %s",
			l.pid, holder(l.token), other)
	case "grandchild":
		return fmt.Sprintf("a grandchild of worker %d of %s was still running after the lock passed on: %s",
			l.pid, holder(l.token), other)
	}
	return fmt.Sprintf("worker %d of %s was still running after the lock passed on: %s",
		l.pid, holder(l.token), other)
}
