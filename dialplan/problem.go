package dialplan

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong (or, with Warning, worth a look) in a
// configuration file.
type Problem struct {
	File    string
	Line    int // 0 when the problem has no line (file unreadable, config built in code)
	Message string
	Warning bool
}

// String formats the problem the way compilers do, so editors can jump to
// it: "FILE:LINE: message" or "FILE:LINE: warning: message".
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
	} else if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every error found in one configuration. It is the error
// returned by Load and Parse.
type Problems []Problem

// Error puts one problem per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders problems by line, keeping the order of problems found
// on the same line.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
}
