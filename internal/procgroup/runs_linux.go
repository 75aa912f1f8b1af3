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
	runs := false
	err := Scan(func(p Proc) bool {
		runs = p.PGID == pgid && p.State != 'Z' && p.State != 'X'
		return !runs
	})
	return runs || err != nil
}

// Proc is what /proc/PID/stat says of a process.
type Proc struct {
	PID, PPID, PGID int
	State           byte // R, S, D, Z (zombie), X (dead), ...
}

// Scan calls fn for each process /proc lists, until fn returns false. It
// fails only when /proc cannot be listed; a process that ends meanwhile
// is skipped.
func Scan(fn func(Proc) bool) error {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
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
		if len(f) < 3 || len(f[0]) != 1 {
			continue
		}
		ppid, err1 := strconv.Atoi(string(f[1]))
		pgid, err2 := strconv.Atoi(string(f[2]))
		if err1 != nil || err2 != nil {
			continue
		}
		if !fn(Proc{PID: pid, PPID: ppid, PGID: pgid, State: f[0][0]}) {
			return nil
		}
	}
	return nil
}
