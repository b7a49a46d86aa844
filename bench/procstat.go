package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// 100 on every architecture Linux builds for by default.
const userHZ = 100

// errStat: a /proc/<pid>/stat line that does not parse.
var errStat = errors.New("malformed /proc stat")

// procStat is what the bench reads from /proc/<pid>/stat.
type procStat struct {
	Comm string
	PPID int
	CPU  time.Duration // utime + stime, every thread of the process
}

// parseProcStat parses one /proc/<pid>/stat line. The command name is in
// parentheses and may itself hold spaces and parentheses, so the fields
// are counted from the last ')'.
func parseProcStat(line string) (procStat, error) {
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return procStat{}, errStat
	}
	// After ") ": state(3) ppid(4) ... utime(14) stime(15).
	f := strings.Fields(line[end+1:])
	if len(f) < 13 {
		return procStat{}, errStat
	}
	ppid, err1 := strconv.Atoi(f[1])
	ut, err2 := strconv.ParseUint(f[11], 10, 64)
	st, err3 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return procStat{}, fmt.Errorf("%w: %v", errStat, err)
	}
	return procStat{Comm: line[open+1 : end], PPID: ppid,
		CPU: time.Duration(ut+st) * time.Second / userHZ}, nil
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, fmt.Errorf("cpu of pid %d: %w", pid, err)
	}
	return parseProcStat(string(b))
}

// cpuOf is the CPU time process pid has used so far; zero when pid is 0
// or the process is gone.
func cpuOf(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	s, err := readProcStat(pid)
	if err != nil {
		return 0
	}
	return s.CPU
}

// childNamed finds a child process of this one by its command name and
// a string its command line holds (the redis-server that
// internal/redistest started for the bench, by its port); 0 if none.
func childNamed(comm, arg string) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		s, err := readProcStat(pid)
		if err != nil || s.PPID != self || s.Comm != comm {
			continue
		}
		if cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && bytes.Contains(cmdline, []byte(arg)) {
			return pid
		}
	}
	return 0
}

// cpuMeter snapshots several processes' CPU at once.
type cpuMeter map[string]int // role → pid

func (m cpuMeter) snapshot() map[string]time.Duration {
	out := make(map[string]time.Duration, len(m))
	for role, pid := range m {
		out[role] = cpuOf(pid)
	}
	return out
}

// cpuSince is the CPU each process used since the snapshot before.
func (m cpuMeter) since(before map[string]time.Duration) map[string]time.Duration {
	now := m.snapshot()
	out := make(map[string]time.Duration, len(m))
	for role, t := range now {
		out[role] = t - before[role]
	}
	return out
}

// machineCPU is the whole machine's busy and total CPU time so far, from
// the first line of /proc/stat (every CPU summed).
func machineCPU() (busy, total time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseMachineCPU(line)
}

// parseMachineCPU parses "cpu user nice system idle iowait irq softirq
// steal ...": idle and iowait are not busy; guest time is already in user.
func parseMachineCPU(line string) (busy, total time.Duration) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	var v [8]uint64
	for i := range v {
		v[i], _ = strconv.ParseUint(f[i+1], 10, 64)
	}
	tick := func(n uint64) time.Duration { return time.Duration(n) * time.Second / userHZ }
	b := v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	return tick(b), tick(b + v[3] + v[4])
}
