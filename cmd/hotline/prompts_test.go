package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline-project/hotline/app"
	"github.com/hotline-project/hotline/dialplan"
	"github.com/hotline-project/hotline/prompts"
)

func runPromptsCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	err = runPrompts(ctx, args, &out, &errb)
	return out.String(), errb.String(), err
}

func needSpeechTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: install Debian's espeak-ng and sox (scripts/test.sh does)", tool)
		}
	}
}

// TestPromptsReferenceConfiguration makes the whole set of
// deploy/hotline.yaml and checks that Asterisk can play every file.
func TestPromptsReferenceConfiguration(t *testing.T) {
	needSpeechTools(t)
	dir := t.TempDir()
	const config = "../../deploy/hotline.yaml"
	out, errOut, err := runPromptsCmd(t, "--out", dir, "--config", config)
	if err != nil {
		t.Fatalf("%v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	cfg, err := dialplan.Load(config)
	if err != nil {
		t.Fatal(err)
	}
	sounds := app.Sounds(cfg)
	total := 0
	for _, lang := range []string{"uk", "ru", "pl", "en"} {
		words, err := prompts.NumberFiles(lang)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%s: %d sounds, %d number words\n", lang, len(sounds), len(words)); !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
		total += len(sounds) + len(words)
	}
	if want := fmt.Sprintf("%s: %d files for 4 language(s)\n", dir, total); !strings.HasSuffix(out, want) {
		t.Errorf("output %q does not end with %q", out, want)
	}
	texts, err := prompts.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	files, err := prompts.Plan(texts, cfg.Languages.Supported, sounds)
	if err != nil {
		t.Fatal(err)
	}
	if err := prompts.Check(dir, files); err != nil {
		t.Error(err)
	}

	// A recording in the place of a prompt is kept by the next run...
	rec := filepath.Join(dir, "pl", "hotline-closed.wav")
	recording, err := os.ReadFile(filepath.Join(dir, "en", "hotline-closed.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rec, recording, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err = runPromptsCmd(t, "--out", dir, "--config", config)
	if err != nil {
		t.Fatal(err)
	}
	if want := "kept 1 file(s) that hotline prompts did not write (recordings, stock sounds):\n  pl/hotline-closed.wav\n"; !strings.Contains(out, want) {
		t.Errorf("output %q lacks %q", out, want)
	}
	if got, _ := os.ReadFile(rec); !bytes.Equal(got, recording) {
		t.Error("the recording was replaced")
	}
	// ...and reported when Asterisk cannot play it.
	if err := os.WriteFile(rec, []byte("not a wav"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runPromptsCmd(t, "--out", dir, "--config", config); err == nil || !strings.Contains(err.Error(), "pl/hotline-closed.wav: not an 8 kHz mono 16-bit PCM WAV") {
		t.Errorf("error %v, want the unplayable recording named", err)
	}
}

// TestPromptsDefaults: without --config, the built-in defaults' sounds in
// their one language.
func TestPromptsDefaults(t *testing.T) {
	needSpeechTools(t)
	dir := t.TempDir()
	out, errOut, err := runPromptsCmd(t, "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	entries, _ := os.ReadDir(dir)
	var langs []string
	for _, e := range entries {
		if e.IsDir() {
			langs = append(langs, e.Name())
		}
	}
	if len(langs) != 1 || langs[0] != "en" || !strings.HasPrefix(out, "en: ") {
		t.Errorf("languages %v, output %q; want en only", langs, out)
	}
	if _, err := prompts.ReadWAV(filepath.Join(dir, "en", "vm-goodbye.wav")); err != nil {
		t.Error(err)
	}
}

func TestPromptsRefuses(t *testing.T) {
	dir := t.TempDir()
	de := filepath.Join(dir, "de.yaml")
	ref, err := os.ReadFile("../../deploy/hotline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	deConfig := strings.Replace(string(ref), "supported: [uk, ru, pl, en]", "supported: [uk, ru, pl, en, de]", 1)
	if deConfig == string(ref) {
		t.Fatal("deploy/hotline.yaml no longer lists supported: [uk, ru, pl, en]")
	}
	if err := os.WriteFile(de, []byte(deConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte("topics: {a: {hours: nowhere}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		args       []string
		want       string // in the error
		wantStderr string
	}{
		{"no out", nil, "--out DIR is required", ""},
		{"extra argument", []string{"--out", dir, "extra"}, "unexpected arguments", ""},
		{"unknown flag", []string{"--outt", dir}, "flag provided but not defined", "-outt"},
		{"language without texts", []string{"--out", dir, "--config", de}, "no prompt texts for language de", ""},
		{"configuration problems", []string{"--out", dir, "--config", broken}, "exit 1", broken + ":1: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, err := runPromptsCmd(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
			if !strings.Contains(errOut, tc.wantStderr) {
				t.Errorf("stderr %q, want %q", errOut, tc.wantStderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "uk")); err == nil {
		t.Error("a refused run wrote prompts")
	}
}

// TestPromptsNamesMissingTools: without espeak-ng and sox the command
// says which Debian packages to install.
func TestPromptsNamesMissingTools(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, _, err := runPromptsCmd(t, "--out", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "espeak-ng and sox not found (on Debian: apt-get install espeak-ng sox)") {
		t.Errorf("error %v", err)
	}
}
