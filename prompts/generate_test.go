package prompts

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// needTools skips when espeak-ng or sox is missing; scripts/test.sh
// installs both.
func needTools(t *testing.T) {
	t.Helper()
	if _, _, err := findTools("", ""); err != nil {
		t.Skipf("%v; scripts/test.sh installs them", err)
	}
}

func testFiles() []File {
	return []File{
		{Lang: "en", Name: "hotline-closed", Text: Text{{Voice: "en-us", Words: "We are closed."}}, Speed: 150},
		{Lang: "en", Name: "hotline-choose-language", Speed: 150, Text: Text{
			{Voice: "uk", Words: "Українська — натисніть 1."}, {Voice: "en-us", Words: "English, press 4."},
		}},
		{Lang: "en", Name: "digits/5", Text: Text{{Voice: "en-us", Words: "five"}}, Speed: 150, Word: true},
		{Lang: "en", Name: "digits/hundred", Text: Text{{Voice: "en-us", Words: "hundred"}}, Speed: 150, Word: true},
		{Lang: "uk", Name: "custom/hotline-closed", Text: Text{{Voice: "uk", Words: "Ми зачинені."}}, Speed: 150},
		{Lang: "uk", Name: "digits/5", Text: Text{{Voice: "uk", Words: "п'ять"}}, Speed: 150, Word: true},
	}
}

func generate(t *testing.T, files []File, opts Options) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Generate(ctx, files, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestGenerateWritesAsteriskWAV(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	files := testFiles()
	res := generate(t, files, Options{Dir: dir})
	want := []LangResult{{Lang: "en", Sounds: 2, Words: 2}, {Lang: "uk", Sounds: 1, Words: 1}}
	if !slices.Equal(res.Langs, want) || len(res.Kept) != 0 {
		t.Errorf("result %+v, want %+v", res, want)
	}
	for _, f := range files {
		p := filepath.Join(dir, f.Lang, filepath.FromSlash(f.Name)+".wav")
		w, err := ReadWAV(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if w.Rate != 8000 || w.Channels != 1 || w.Bits != 16 || w.Format != 1 || w.DataBytes < 800 {
			t.Errorf("%s: %+v, want 8 kHz mono 16-bit PCM with samples", p, w)
		}
		if st, _ := os.Stat(p); st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644 (Asterisk reads it)", p, st.Mode())
		}
	}
	// Two voices make a longer file than one.
	one, _ := ReadWAV(filepath.Join(dir, "en", "hotline-closed.wav"))
	two, _ := ReadWAV(filepath.Join(dir, "en", "hotline-choose-language.wav"))
	if two.DataBytes <= one.DataBytes {
		t.Errorf("two segments %d bytes, one %d", two.DataBytes, one.DataBytes)
	}
	if err := Check(dir, files); err != nil {
		t.Error(err)
	}
	if err := Check(dir, append(files, File{Lang: "uk", Name: "hotline-survey"})); err == nil || !strings.Contains(err.Error(), "uk/hotline-survey") {
		t.Errorf("Check of a missing file: %v", err)
	}
	// No temporary files are left behind.
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if strings.HasSuffix(p, ".tmp") {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

func TestGenerateIsReproducible(t *testing.T) {
	needTools(t)
	a, b := t.TempDir(), t.TempDir()
	files := testFiles()[:3]
	generate(t, files, Options{Dir: a, Jobs: 1})
	generate(t, files, Options{Dir: b, Jobs: 3})
	for _, f := range files {
		rel := filepath.Join(f.Lang, filepath.FromSlash(f.Name)+".wav")
		x, _ := os.ReadFile(filepath.Join(a, rel))
		y, _ := os.ReadFile(filepath.Join(b, rel))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between runs", rel)
		}
	}
}

// TestGenerateKeepsRecordings: a file that Generate did not write, in the
// place of a sound in any format, is kept, and Generate's own file of
// that sound goes so Asterisk plays the recording.
func TestGenerateKeepsRecordings(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	files := testFiles()
	generate(t, files, Options{Dir: dir})

	recorded := filepath.Join(dir, "en", "hotline-closed.wav")
	if err := os.WriteFile(recorded, []byte("a recording"), 0o644); err != nil {
		t.Fatal(err)
	}
	gsm := filepath.Join(dir, "uk", "custom", "hotline-closed.gsm")
	if err := os.WriteFile(gsm, []byte("a gsm recording"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := generate(t, files, Options{Dir: dir})
	if want := []string{"en/hotline-closed.wav", "uk/custom/hotline-closed.gsm"}; !slices.Equal(res.Kept, want) {
		t.Errorf("kept %v, want %v", res.Kept, want)
	}
	if got, _ := os.ReadFile(recorded); string(got) != "a recording" {
		t.Error("the recording was overwritten")
	}
	if _, err := os.Stat(filepath.Join(dir, "uk", "custom", "hotline-closed.wav")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the synthesized file beside the recording is still there: %v", err)
	}
	if got := res.Langs; got[0].Sounds != 1 || got[1].Sounds != 0 {
		t.Errorf("counts %+v", got)
	}
	// Deleting the recording brings the synthesized prompt back.
	if err := os.Remove(recorded); err != nil {
		t.Fatal(err)
	}
	generate(t, files, Options{Dir: dir})
	if _, err := ReadWAV(recorded); err != nil {
		t.Errorf("after removing the recording: %v", err)
	}
}

// TestGenerateLinksCoreDigits: number words a core sounds directory has
// are linked, the rest synthesized; without the core sounds the links
// give way to synthesized words again.
func TestGenerateLinksCoreDigits(t *testing.T) {
	needTools(t)
	dir, core := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(core, "en", "digits"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"5.gsm", "day-0.gsm", "README.txt"} {
		if err := os.WriteFile(filepath.Join(core, "en", "digits", name), []byte("core sound"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files := testFiles()
	// A synthesized en/digits/5.wav from an earlier run without core sounds.
	generate(t, files, Options{Dir: dir})

	res := generate(t, files, Options{Dir: dir, CoreSounds: core})
	want := []LangResult{{Lang: "en", Sounds: 2, Words: 1, Linked: 2}, {Lang: "uk", Sounds: 1, Words: 1}}
	if !slices.Equal(res.Langs, want) {
		t.Errorf("counts %+v, want %+v", res.Langs, want)
	}
	link := filepath.Join(dir, "en", "digits", "5.gsm")
	if target, err := os.Readlink(link); err != nil || target != filepath.Join(core, "en", "digits", "5.gsm") {
		t.Errorf("link %q, %v", target, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "en", "digits", "5.wav")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the synthesized 5.wav stayed beside the core 5.gsm: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "en", "digits", "README.txt")); err == nil {
		t.Error("a file that is not a sound was linked")
	}
	if _, err := ReadWAV(filepath.Join(dir, "uk", "digits", "5.wav")); err != nil {
		t.Errorf("uk has no core sounds here: %v", err)
	}
	if err := Check(dir, files); err != nil {
		t.Error(err)
	}

	generate(t, files, Options{Dir: dir})
	if _, err := os.Lstat(link); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the core link stayed after a run without core sounds: %v", err)
	}
	if _, err := ReadWAV(filepath.Join(dir, "en", "digits", "5.wav")); err != nil {
		t.Error(err)
	}
}

func TestGenerateNamesMissingTools(t *testing.T) {
	_, err := Generate(context.Background(), testFiles(), Options{Dir: t.TempDir(), Espeak: "/nonexistent/espeak-ng", Sox: "/nonexistent/sox"})
	if !errors.Is(err, ErrMissingTool) || !strings.Contains(err.Error(), "apt-get install espeak-ng sox") {
		t.Errorf("error %v, want ErrMissingTool naming the Debian packages", err)
	}
}

func TestGenerateReportsSynthesisErrors(t *testing.T) {
	needTools(t)
	files := []File{{Lang: "en", Name: "x", Text: Text{{Voice: "no-such-voice", Words: "x"}}, Speed: 150}}
	_, err := Generate(context.Background(), files, Options{Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "no voice no-such-voice (en/x.wav)") {
		t.Errorf("error %v, want the unknown voice named", err)
	}
	// espeak-ng's own failures come with its message.
	dir := t.TempDir()
	script := filepath.Join(dir, "espeak-ng")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = --voices ] && exec espeak-ng --voices\necho 'cannot speak today' >&2; exit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = Generate(context.Background(), testFiles()[:1], Options{Dir: dir, Espeak: script})
	if err == nil || !strings.Contains(err.Error(), "synthesize en/hotline-closed.wav") || !strings.Contains(err.Error(), "cannot speak today") {
		t.Errorf("error %v, want espeak-ng's message with the file", err)
	}
}

func TestGenerateStopsWithContext(t *testing.T) {
	needTools(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Generate(ctx, testFiles(), Options{Dir: t.TempDir()}); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

func TestReadWAVRefuses(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	for name, args := range map[string][]string{
		"stereo.wav": {"-c", "2", "-r", "8000", "-b", "16"},
		"16k.wav":    {"-c", "1", "-r", "16000", "-b", "16"},
		"8bit.wav":   {"-c", "1", "-r", "8000", "-b", "8"},
	} {
		p := filepath.Join(dir, name)
		cmd := exec.Command("sox", append(append([]string{"-n"}, args...), p, "trim", "0", "0.1")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sox: %v: %s", err, out)
		}
		if _, err := ReadWAV(p); !errors.Is(err, ErrNotPlayable) {
			t.Errorf("%s: %v, want ErrNotPlayable", name, err)
		}
	}
	p := filepath.Join(dir, "text.wav")
	_ = os.WriteFile(p, []byte("hello"), 0o644)
	if _, err := ReadWAV(p); !errors.Is(err, ErrNotPlayable) {
		t.Errorf("text: %v", err)
	}
}
