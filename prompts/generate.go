package prompts

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// ErrMissingTool is wrapped by Generate when espeak-ng or sox is not
// installed; the message names the Debian packages.
var ErrMissingTool = errors.New("missing tool")

// ManifestName is the file in the output directory where Generate records
// what it wrote, so that a later run replaces only its own files and
// keeps a recording put in the place of one.
const ManifestName = ".hotline-prompts"

// Options say where and how Generate writes the set.
type Options struct {
	// Dir is Asterisk's sounds directory (astdatadir/sounds, e.g.
	// /var/lib/asterisk/sounds); files go to Dir/<lang>/<name>.wav.
	Dir string
	// CoreSounds is a directory holding Asterisk's core sounds by
	// language (Debian: /usr/share/asterisk/sounds, with en and ru). Where
	// it has <lang>/digits, those files are linked into Dir/<lang>/digits
	// and only the number words they lack are synthesized. Empty: every
	// number word is synthesized.
	CoreSounds string
	// Espeak and Sox are the programs; default espeak-ng and sox from PATH.
	Espeak, Sox string
	// Jobs bounds the syntheses run at once; default GOMAXPROCS.
	Jobs int
}

// Result says what Generate did.
type Result struct {
	Langs []LangResult // in the order the languages first appear in the files
	// Kept lists, relative to Dir, files in the place of a sound that
	// Generate did not write (recordings): they were left alone and that
	// sound was not written.
	Kept []string
}

// LangResult counts one language's files.
type LangResult struct {
	Lang   string
	Sounds int // prompts synthesized
	Words  int // number words synthesized (digits/)
	Linked int // core sounds linked into digits/
}

// Total is the number of files of the language written or linked.
func (r LangResult) Total() int { return r.Sounds + r.Words + r.Linked }

// job is one file to write: a synthesis or a link to a core sound.
type job struct {
	lang, name, ext string // Dir/lang/name.ext
	file            *File  // a synthesis
	target          string // a link's target
	stale           []string
}

func (j *job) rel() string { return j.lang + "/" + j.name + "." + j.ext }

// Generate writes files (from Plan) under opts.Dir: each synthesized with
// espeak-ng and converted with sox to 8 kHz mono 16-bit WAV, written
// atomically (Asterisk never plays half a file). A file of the same sound
// in any format that Generate did not write itself is kept and that
// sound skipped (Result.Kept): to use a recording, put it in the place of
// the synthesized file. Retry is safe: a run makes the same files again.
func Generate(ctx context.Context, files []File, opts Options) (*Result, error) {
	if opts.Dir == "" {
		return nil, errors.New("generate prompts: no output directory")
	}
	espeak, sox, err := findTools(opts.Espeak, opts.Sox)
	if err != nil {
		return nil, err
	}
	jobsN := opts.Jobs
	if jobsN <= 0 {
		jobsN = runtime.GOMAXPROCS(0)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("generate prompts: %w", err)
	}
	man, err := readManifest(opts.Dir)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	counts := map[string]*LangResult{}
	var order []string
	var jobs []*job
	provided := map[string]bool{} // lang/digits/stem from the core sounds
	for _, f := range files {
		if _, seen := counts[f.Lang]; seen {
			continue
		}
		counts[f.Lang] = &LangResult{Lang: f.Lang}
		order = append(order, f.Lang)
		links, err := coreDigits(opts.CoreSounds, opts.Dir, f.Lang)
		if err != nil {
			return nil, err
		}
		for _, l := range links {
			provided[l.lang+"/"+l.name] = true
			if l.target != "" {
				jobs = append(jobs, l)
			}
		}
	}
	for i := range files {
		f := &files[i]
		if f.Word && provided[f.Lang+"/"+f.Name] {
			continue
		}
		jobs = append(jobs, &job{lang: f.Lang, name: f.Name, ext: "wav", file: f})
	}

	made := map[string]bool{}
	for _, j := range jobs {
		made[j.rel()] = true
	}
	idx := dirIndex{}
	var todo []*job
	for _, j := range jobs {
		var foreign, mine []string
		for _, rel := range idx.siblings(opts.Dir, j.lang, j.name) {
			if man.ours(opts.Dir, rel) {
				mine = append(mine, rel)
			} else {
				foreign = append(foreign, rel)
			}
		}
		if len(foreign) == 0 {
			for _, rel := range mine {
				if !made[rel] {
					j.stale = append(j.stale, rel)
				}
			}
			todo = append(todo, j)
			continue
		}
		// A recording (or another package's sound) is in place: step
		// aside, and take our own file of that sound away so that
		// Asterisk has only the recording to choose.
		res.Kept = append(res.Kept, foreign...)
		for _, rel := range mine {
			if err := os.Remove(filepath.Join(opts.Dir, filepath.FromSlash(rel))); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("remove %s: %w", rel, err)
			}
			man.del(rel)
		}
	}

	if err := checkVoices(ctx, espeak, todo); err != nil {
		return nil, err
	}
	g := &generator{espeak: espeak, sox: sox, dir: opts.Dir, man: man}
	runErr := g.run(ctx, todo, jobsN)
	// Whatever was written is recorded, also after a failure, so that the
	// next run knows the files as its own.
	if err := man.write(opts.Dir); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return nil, runErr
	}
	for _, j := range todo {
		c := counts[j.lang]
		switch {
		case j.file == nil:
			c.Linked++
		case j.file.Word:
			c.Words++
		default:
			c.Sounds++
		}
	}
	for _, lang := range order {
		res.Langs = append(res.Langs, *counts[lang])
	}
	sort.Strings(res.Kept)
	res.Kept = compact(res.Kept)
	return res, nil
}

func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// findTools looks the programs up and names the Debian packages of those
// missing.
func findTools(espeak, sox string) (string, string, error) {
	if espeak == "" {
		espeak = "espeak-ng"
	}
	if sox == "" {
		sox = "sox"
	}
	var missing, pkgs []string
	e, err := exec.LookPath(espeak)
	if err != nil {
		missing, pkgs = append(missing, espeak), append(pkgs, "espeak-ng")
	}
	s, err := exec.LookPath(sox)
	if err != nil {
		missing, pkgs = append(missing, sox), append(pkgs, "sox")
	}
	if len(missing) > 0 {
		return "", "", fmt.Errorf("%w: %s not found (on Debian: apt-get install %s)",
			ErrMissingTool, strings.Join(missing, " and "), strings.Join(pkgs, " "))
	}
	return e, s, nil
}

// checkVoices refuses voices espeak-ng does not list: given an unknown
// name it may quietly speak another language ("no-such" is Norwegian).
func checkVoices(ctx context.Context, espeak string, jobs []*job) error {
	out, err := exec.CommandContext(ctx, espeak, "--voices").Output()
	if err != nil {
		return fmt.Errorf("espeak-ng --voices: %w", err)
	}
	known := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n")[1:] {
		// Pty Language Age/Gender VoiceName File [Other Languages]
		if f := strings.Fields(line); len(f) >= 5 {
			known[strings.ToLower(f[1])] = true
			known[strings.ToLower(path.Base(f[4]))] = true
		}
	}
	var bad []string
	for _, j := range jobs {
		if j.file == nil {
			continue
		}
		for _, s := range j.file.Text {
			v, _, _ := strings.Cut(s.Voice, "+") // a variant: en-us+f3
			if !known[strings.ToLower(v)] {
				bad = append(bad, fmt.Sprintf("%s (%s)", s.Voice, j.rel()))
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("generate prompts: espeak-ng has no voice %s", strings.Join(compact(bad), ", "))
	}
	return nil
}

// coreDigits lists the link jobs for lang's core digits/ files. When the
// core directory is the output directory itself the files are already in
// place: they are returned without a target, only to mark the words as
// provided.
func coreDigits(core, dir, lang string) ([]*job, error) {
	if core == "" {
		return nil, nil
	}
	abs, err := filepath.Abs(core)
	if err != nil {
		return nil, fmt.Errorf("core sounds: %w", err)
	}
	src := filepath.Join(abs, lang, "digits")
	entries, err := os.ReadDir(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("core sounds: %w", err)
	}
	same := false
	if a, err := os.Stat(src); err == nil {
		if b, err := os.Stat(filepath.Join(dir, lang, "digits")); err == nil {
			same = os.SameFile(a, b)
		}
	}
	var out []*job
	for _, e := range entries {
		stem, ext, ok := splitSound(e.Name())
		if !ok {
			continue
		}
		target := filepath.Join(src, e.Name())
		if st, err := os.Stat(target); err != nil || !st.Mode().IsRegular() {
			continue
		}
		j := &job{lang: lang, name: "digits/" + stem, ext: ext, target: target}
		if same {
			j.target = ""
		}
		out = append(out, j)
	}
	return out, nil
}

// soundExts are the file extensions Asterisk's format modules read.
var soundExts = map[string]bool{
	"wav": true, "WAV": true, "wav16": true, "gsm": true, "ulaw": true, "ul": true, "mu": true,
	"pcm": true, "alaw": true, "al": true, "alw": true, "g722": true, "g723": true, "g723sf": true,
	"g726-16": true, "g726-24": true, "g726-32": true, "g726-40": true, "g729": true, "ilbc": true,
	"ogg": true, "opus": true, "siren7": true, "siren14": true, "vox": true, "raw": true, "sln": true,
	"sln12": true, "sln16": true, "sln24": true, "sln32": true, "sln44": true, "sln48": true,
	"sln96": true, "sln192": true, "h263": true, "h264": true,
}

// splitSound splits "5.gsm" into "5" and "gsm" when the extension is a
// sound format's.
func splitSound(file string) (stem, ext string, ok bool) {
	i := strings.LastIndexByte(file, '.')
	if i <= 0 || !soundExts[file[i+1:]] {
		return "", "", false
	}
	return file[:i], file[i+1:], true
}

// dirIndex caches the sound files of directories by stem.
type dirIndex map[string]map[string][]string

// siblings lists, relative to dir, the existing files of sound name in
// lang, in any format.
func (x dirIndex) siblings(dir, lang, name string) []string {
	sub := path.Join(lang, path.Dir(name))
	stems, ok := x[sub]
	if !ok {
		stems = map[string][]string{}
		entries, _ := os.ReadDir(filepath.Join(dir, filepath.FromSlash(sub)))
		for _, e := range entries {
			if stem, _, ok := splitSound(e.Name()); ok && !e.IsDir() {
				stems[stem] = append(stems[stem], path.Join(sub, e.Name()))
			}
		}
		x[sub] = stems
	}
	return stems[path.Base(name)]
}

type generator struct {
	espeak, sox, dir string
	man              *manifest
}

// run does the jobs on n workers; the first error stops the rest.
func (g *generator) run(ctx context.Context, jobs []*job, n int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tmp, err := os.MkdirTemp("", "hotline-prompts-")
	if err != nil {
		return fmt.Errorf("generate prompts: %w", err)
	}
	defer os.RemoveAll(tmp)
	work := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := g.do(ctx, jobs[i], filepath.Join(tmp, strconv.Itoa(i))); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
				}
			}
		}()
	}
feed:
	for i := range jobs {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// do writes one job's file through a temporary name in its directory and
// removes the job's stale files.
func (g *generator) do(ctx context.Context, j *job, scratch string) error {
	rel := j.rel()
	dst := filepath.Join(g.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp")
	_ = os.Remove(tmp)
	var sum string
	if j.file == nil {
		if err := os.Symlink(j.target, tmp); err != nil {
			return fmt.Errorf("link %s: %w", rel, err)
		}
		sum = "link:" + j.target
	} else {
		if err := os.MkdirAll(scratch, 0o700); err != nil {
			return fmt.Errorf("synthesize %s: %w", rel, err)
		}
		if err := g.synthesize(ctx, j.file, scratch, tmp); err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("synthesize %s: %w", rel, err)
		}
		data, err := os.ReadFile(tmp)
		if err != nil {
			return fmt.Errorf("synthesize %s: %w", rel, err)
		}
		if err := os.Chmod(tmp, 0o644); err != nil {
			return fmt.Errorf("synthesize %s: %w", rel, err)
		}
		sum = sha(data)
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", rel, err)
	}
	g.man.set(rel, sum)
	for _, s := range j.stale {
		if err := os.Remove(filepath.Join(g.dir, filepath.FromSlash(s))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", s, err)
		}
		g.man.del(s)
	}
	return nil
}

// synthesize speaks each segment with espeak-ng and joins them with sox
// into out: 8 kHz, mono, 16-bit signed PCM WAV, peaks at -3 dBFS, no
// dither (the same text gives the same bytes). Number words lose their
// leading and trailing silence so that "twenty" "five" run together.
func (g *generator) synthesize(ctx context.Context, f *File, scratch, out string) error {
	var segs []string
	for i, s := range f.Text {
		seg := filepath.Join(scratch, fmt.Sprintf("seg%d.wav", i))
		cmd := exec.CommandContext(ctx, g.espeak, "-b", "1", "-v", s.Voice, "-s", strconv.Itoa(f.Speed), "-w", seg, "--stdin")
		cmd.Stdin = strings.NewReader(s.Words)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("espeak-ng -v %s: %w: %s", s.Voice, err, bytes.TrimSpace(out))
		}
		segs = append(segs, seg)
	}
	args := append([]string{"-D", "-V1"}, segs...)
	args = append(args, "-t", "wav", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", out)
	if f.Word {
		args = append(args, "silence", "1", "0.01", "0.1%", "reverse", "silence", "1", "0.01", "0.1%", "reverse", "pad", "0.02", "0.06")
	}
	args = append(args, "gain", "-n", "-3")
	cmd := exec.CommandContext(ctx, g.sox, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("sox: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(s[:])
}

// manifest records the files Generate wrote: relative path → "sha256:…"
// for a synthesized file, "link:TARGET" for a link.
type manifest struct {
	mu    sync.Mutex
	files map[string]string
}

const manifestHeader = `# Written by "hotline prompts": the files it made here. A later run
# replaces only these, and only while they are unchanged; a file put in
# the place of one (a recording) is kept.
`

func readManifest(dir string) (*manifest, error) {
	m := &manifest{files: map[string]string{}}
	data, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sum, rel, ok := strings.Cut(line, "\t")
		if !ok {
			continue // not ours to judge; the file is treated as foreign
		}
		m.files[rel] = sum
	}
	return m, nil
}

// ours reports whether the file at rel is one Generate wrote and nobody
// changed since.
func (m *manifest) ours(dir, rel string) bool {
	m.mu.Lock()
	sum, ok := m.files[rel]
	m.mu.Unlock()
	if !ok {
		return false
	}
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if target, isLink := strings.CutPrefix(sum, "link:"); isLink {
		got, err := os.Readlink(p)
		return err == nil && got == target
	}
	st, err := os.Lstat(p)
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	data, err := os.ReadFile(p)
	return err == nil && sha(data) == sum
}

func (m *manifest) set(rel, sum string) {
	m.mu.Lock()
	m.files[rel] = sum
	m.mu.Unlock()
}

func (m *manifest) del(rel string) {
	m.mu.Lock()
	delete(m.files, rel)
	m.mu.Unlock()
}

func (m *manifest) write(dir string) error {
	m.mu.Lock()
	var b strings.Builder
	b.WriteString(manifestHeader)
	for _, rel := range sortedKeys(m.files) {
		fmt.Fprintf(&b, "%s\t%s\n", m.files[rel], rel)
	}
	m.mu.Unlock()
	p := filepath.Join(dir, ManifestName)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}
