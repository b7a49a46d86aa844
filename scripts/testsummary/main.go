// Command testsummary reads `go test -json` from standard input and prints
// what a person needs from a long run: each failed test with its output,
// each skipped test with its reason, and the counts. With -skips FILE it
// also holds the run to a declared list of skips (one "TestName: reason"
// per line, # comments): a skip not in the list, or a listed test that ran
// after all, fails. It exits 1 when anything failed.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

func main() {
	skipsFile := flag.String("skips", "", "file of declared skips: one `TestName: reason` per line")
	flag.Parse()
	declared := map[string]string{}
	if *skipsFile != "" {
		var err error
		if declared, err = readSkips(*skipsFile); err != nil {
			fmt.Fprintln(os.Stderr, "testsummary:", err)
			os.Exit(2)
		}
	}
	ok, err := summarize(os.Stdin, os.Stdout, declared, *skipsFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func readSkips(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for n, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, why, found := strings.Cut(line, ":")
		if !found || strings.TrimSpace(why) == "" {
			return nil, fmt.Errorf("%s:%d: want `TestName: reason`", path, n+1)
		}
		out[strings.TrimSpace(name)] = strings.TrimSpace(why)
	}
	return out, nil
}

func summarize(r io.Reader, w io.Writer, declared map[string]string, skipsFile string) (bool, error) {
	output := map[string]*strings.Builder{} // package/test → output lines
	var passed, failed, skipped []string
	var failedPkgs []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			// go test prints build failures as plain text.
			fmt.Fprintln(w, sc.Text())
			continue
		}
		key := ev.Package + " " + ev.Test
		switch ev.Action {
		case "output":
			b := output[key]
			if b == nil {
				b = &strings.Builder{}
				output[key] = b
			}
			b.WriteString(ev.Output)
		case "pass":
			if ev.Test != "" {
				passed = append(passed, key)
			}
		case "fail":
			if ev.Test != "" {
				failed = append(failed, key)
			} else {
				failedPkgs = append(failedPkgs, ev.Package)
			}
		case "skip":
			if ev.Test != "" {
				skipped = append(skipped, key)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	ok := len(failed) == 0 && len(failedPkgs) == 0
	for _, k := range failed {
		fmt.Fprintf(w, "--- FAIL %s\n%s", k, tail(output[k], 60))
	}
	for _, p := range failedPkgs {
		if b := output[p+" "]; b != nil && !hasTestFailure(failed, p) {
			fmt.Fprintf(w, "--- FAIL package %s\n%s", p, tail(b, 60))
		}
	}
	sort.Strings(skipped)
	seen := map[string]bool{}
	for _, k := range skipped {
		_, test, _ := strings.Cut(k, " ")
		seen[test] = true
		why, ok2 := declared[test]
		switch {
		case skipsFile == "":
			fmt.Fprintf(w, "--- SKIP %s: %s\n", k, skipReason(output[k]))
		case ok2:
			fmt.Fprintf(w, "--- SKIP %s (declared: %s)\n", k, why)
		default:
			fmt.Fprintf(w, "--- SKIP %s NOT DECLARED in %s: %s\n", k, skipsFile, skipReason(output[k]))
			ok = false
		}
	}
	for test := range declared {
		if !seen[test] {
			fmt.Fprintf(w, "--- %s is declared a skip in %s but did not skip: remove it from the list\n", test, skipsFile)
			ok = false
		}
	}
	fmt.Fprintf(w, "tests: %d passed, %d failed, %d skipped\n", len(passed), len(failed), len(skipped))
	return ok, nil
}

func hasTestFailure(failed []string, pkg string) bool {
	for _, k := range failed {
		if strings.HasPrefix(k, pkg+" ") {
			return true
		}
	}
	return false
}

// skipReason is the message a test gave t.Skip: its last output line
// before the "--- SKIP" line.
func skipReason(b *strings.Builder) string {
	if b == nil {
		return "(no reason given)"
	}
	var last string
	for _, l := range strings.Split(b.String(), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "--- SKIP") && !strings.HasPrefix(l, "=== ") {
			last = l
		}
	}
	if last == "" {
		return "(no reason given)"
	}
	return last
}

func tail(b *strings.Builder, n int) string {
	if b == nil {
		return ""
	}
	lines := strings.SplitAfter(b.String(), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("    ... %d lines before\n", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "")
}
