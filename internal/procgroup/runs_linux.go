package procgroup

import (
	"bytes"
	"os"
	"strconv"
)

// Runs reports whether a process of group pgid runs: one that is not a
// zombie. A group's exited processes wait as zombies for whoever reaps
// them, and kill(-pgid, 0) counts them; /proc tells them apart. When /proc
// cannot be read, a group that exists is taken to run.
func Runs(pgid int) bool {
	if !Exists(pgid) {
		return false
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		i := bytes.LastIndexByte(raw, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(raw[i+1:])
		if len(f) < 4 || string(f[0]) == "Z" || string(f[0]) == "X" {
			continue
		}
		if g, err := strconv.Atoi(string(f[2])); err == nil && g == pgid {
			return true
		}
	}
	return false
}
