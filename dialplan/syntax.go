package dialplan

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// YAML syntax errors, at the line that is wrong.
//
// The YAML library reports a syntax error at one line only, and prefers the
// start of the enclosing construct ("while parsing a block mapping") to the
// token it stumbled on: a stray line deep in `topics` comes out at the line
// above `topics:`, 90 lines off. (For parser errors that line is also
// 0-based, one line early.) The token's own position is not exported, so
// it is found again here from the outside, by parsing prefixes of the file:
//
//   - The problem line is the shortest run of whole lines from the top that
//     fails with exactly the same error (message and reported line) as the
//     whole file: the parser is deterministic, so it meets the same token in
//     the same state as soon as the prefix holds the line the token is on,
//     and not before.
//   - Flow collections ("[a, b]", "{topic: x}") are where YAML cannot know
//     better: a missing "," or closing bracket is only noticed at the next
//     entry, which may be lines later. A prefix that stops inside the open
//     collection fails the same way at its end, so the line found is the
//     last one after which the collection could still have been closed or
//     continued: the line whose bracket or comma is missing on one-line
//     collections, the last good entry on longer ones (inside the
//     construct either way).
//   - A quote left open swallows the lines after it until the next quote of
//     the same kind, and the parser stumbles only past that, some lines
//     later. When the lines just before the problem line end inside a quoted
//     string, and closing that string on the line it opened lets the parser
//     past the problem line, the error is that line's unclosed quote. (A
//     string meant to span lines is left alone: closing it early makes
//     things worse, not better.)
//   - An alias to an anchor that does not exist is reported with no line at
//     all; it is at the first "*name" in the file. So are the reader's
//     errors (control characters, bytes that are not UTF-8): at the first
//     such character.
//
// A binary search keeps the prefix parses to about log2(lines) of them
// (a few milliseconds for the reference configuration).

var (
	yamlLineRe      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownAnchorRe = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)
)

// openQuoteProblem is the scanner's word for input that ends inside a
// quoted string (its only use of it).
const openQuoteProblem = "found unexpected end of stream"

// yamlProblem turns a syntax error of the YAML library, from parsing data,
// into a problem at the line of the error.
func yamlProblem(file string, data []byte, err error) Problem {
	line, msg := locateSyntaxError(data, err)
	return Problem{File: file, Line: line, Message: "invalid YAML: " + msg}
}

func locateSyntaxError(data []byte, err error) (int, string) {
	msg := err.Error()
	if m := unknownAnchorRe.FindStringSubmatch(msg); m != nil {
		return aliasLine(data, m[1]), "unknown anchor '" + m[1] + "' referenced"
	}
	line, text, ok := failingPrefix(data, err)
	if !ok {
		// The reader's errors (control characters, bad UTF-8) come with a
		// byte offset the library does not pass on.
		return max(badCharLine(data), 1), strings.TrimPrefix(msg, "yaml: ")
	}
	if q, ok := unclosedQuote(data, line); ok {
		return q, "quoted string not closed on this line (it runs on to line " + strconv.Itoa(line) + ")"
	}
	if text == openQuoteProblem {
		return line, "quoted string not closed (the file ends inside it)"
	}
	return line, text
}

// failingPrefix returns the number of lines of the shortest prefix of data
// that fails to parse with exactly err, and err's message without its line.
// ok is false for an error that names no line.
func failingPrefix(data []byte, err error) (line int, text string, ok bool) {
	msg := err.Error()
	m := yamlLineRe.FindStringSubmatch(msg)
	ends := lineEnds(data)
	if m == nil || len(ends) == 0 {
		return 0, "", false
	}
	lo, hi := 1, len(ends)
	for lo < hi {
		mid := (lo + hi) / 2
		if _, _, e := parseYAML(data[:ends[mid-1]]); e != nil && e.Error() == msg {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, m[2], true
}

// unclosedQuote reports the line of a quote left open that made the parser
// stumble at line, as described above.
func unclosedQuote(data []byte, line int) (int, bool) {
	if line < 2 {
		return 0, false
	}
	ends := lineEnds(data)
	_, _, err := parseYAML(data[:ends[line-2]])
	if err == nil {
		return 0, false
	}
	m := yamlLineRe.FindStringSubmatch(err.Error())
	if m == nil || m[2] != openQuoteProblem {
		return 0, false
	}
	q, _ := strconv.Atoi(m[1])
	if q < 1 || q >= line {
		return 0, false
	}
	// The end of line q, before its line break.
	start := 0
	if q > 1 {
		start = ends[q-2]
	}
	cut := start + len(bytes.TrimRight(data[start:ends[q-1]], "\r\n"))
	for _, quote := range []string{`"`, `'`} {
		fixed := make([]byte, 0, len(data)+1)
		fixed = append(append(append(fixed, data[:cut]...), quote...), data[cut:]...)
		_, _, err := parseYAML(fixed)
		if err == nil {
			return q, true
		}
		// The repair got the parser past the problem line: a later error is
		// another one.
		if l, _, ok := failingPrefix(fixed, err); ok && l > line {
			return q, true
		}
	}
	return 0, false
}

// lineEnds returns, for each line from the first, the offset just past it
// (past its line break, or the end of data for the last line). Line breaks
// are YAML's: "\n", "\r\n" and a lone "\r".
func lineEnds(data []byte) []int {
	var ends []int
	for i := 0; i < len(data); i++ {
		switch {
		case data[i] == '\n':
			ends = append(ends, i+1)
		case data[i] == '\r' && (i+1 == len(data) || data[i+1] != '\n'):
			ends = append(ends, i+1)
		}
	}
	if n := len(data); n > 0 && (len(ends) == 0 || ends[len(ends)-1] != n) {
		ends = append(ends, n)
	}
	return ends
}

// lineAt is the line (from 1) of the byte at offset off.
func lineAt(ends []int, off int) int {
	for i, e := range ends {
		if off < e {
			return i + 1
		}
	}
	return len(ends)
}

// badCharLine is the line of the first character YAML does not allow in a
// stream (C0 and C1 controls but tab, line breaks and NEL; surrogates;
// U+FFFE and U+FFFF; bytes that are not UTF-8), or 0.
func badCharLine(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		ok := r == '\t' || r == '\n' || r == '\r' || r == 0x85 ||
			(r >= 0x20 && r <= 0x7e) || (r >= 0xa0 && r <= 0xd7ff) ||
			(r >= 0xe000 && r <= 0xfffd) || (r >= 0x10000 && r <= 0x10ffff)
		if r == utf8.RuneError && size == 1 || !ok {
			return lineAt(lineEnds(data), i)
		}
		i += size
	}
	return 0
}

// aliasLine is the line of the first alias *name in data, or 1.
func aliasLine(data []byte, name string) int {
	re, err := regexp.Compile(`(^|[\s\[\{,:])\*` + regexp.QuoteMeta(name) + `($|[\s\]\},])`)
	if err != nil {
		return 1
	}
	start := 0
	for i, end := range lineEnds(data) {
		if re.Match(bytes.TrimRight(data[start:end], "\r\n")) {
			return i + 1
		}
		start = end
	}
	return 1
}
