package prompts_test

import (
	"errors"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hotline-project/hotline/app"
	"github.com/hotline-project/hotline/callflow"
	"github.com/hotline-project/hotline/dialplan"
	"github.com/hotline-project/hotline/prompts"
)

// loadConfig reads a configuration of the repository; the end-to-end
// one has placeholders, filled as e2e/harness_test.go's scenario does.
func loadConfig(t *testing.T, path string) *dialplan.Config {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer(
		"{{ARI_URL}}", "http://127.0.0.1:8088/ari", "{{ARI_APP}}", "hotline", "{{REDIS}}", "127.0.0.1:6379",
		"{{PREFIX}}", "e2e:", "{{NODE}}", "e2e",
	).Replace(string(raw))
	cfg, err := dialplan.Parse(path, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func languages(cfg *dialplan.Config) []string {
	langs := slices.Clone(cfg.Languages.Supported)
	if !slices.Contains(langs, cfg.Languages.Default) {
		langs = append(langs, cfg.Languages.Default)
	}
	return langs
}

func builtin(t *testing.T) map[string]*prompts.Texts {
	t.Helper()
	texts, err := prompts.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return texts
}

func TestBuiltinLanguages(t *testing.T) {
	texts := builtin(t)
	var got []string
	for lang := range texts {
		got = append(got, lang)
	}
	sort.Strings(got)
	if want := []string{"en", "pl", "ru", "uk"}; !slices.Equal(got, want) {
		t.Errorf("languages %v, want %v", got, want)
	}
}

// TestCompleteForConfigurations: every sound the daemon may play with the
// repository's configurations has a text in each of their languages, and
// so has every number word.
func TestCompleteForConfigurations(t *testing.T) {
	texts := builtin(t)
	for _, path := range []string{"../deploy/hotline.yaml", "../e2e/testdata/hotline.yaml"} {
		t.Run(path, func(t *testing.T) {
			cfg := loadConfig(t, path)
			langs, sounds := languages(cfg), app.Sounds(cfg)
			if len(sounds) == 0 {
				t.Fatal("app.Sounds lists no sounds")
			}
			files, err := prompts.Plan(texts, langs, sounds)
			if err != nil {
				t.Fatal(err)
			}
			perLang := map[string]int{}
			for _, f := range files {
				if !f.Word {
					perLang[f.Lang]++
				}
			}
			for _, lang := range langs {
				if perLang[lang] != len(sounds) {
					t.Errorf("%s: %d sounds planned, want %d", lang, perLang[lang], len(sounds))
				}
			}
		})
	}
	if cfg := loadConfig(t, "../deploy/hotline.yaml"); !slices.Equal(languages(cfg), []string{"uk", "ru", "pl", "en"}) {
		t.Errorf("deploy/hotline.yaml languages %v: the test expects uk, ru, pl, en", languages(cfg))
	}
}

// TestSameSoundsInEveryLanguage: no language has a text the others lack
// (a stale or misspelt name).
func TestSameSoundsInEveryLanguage(t *testing.T) {
	texts := builtin(t)
	keys := func(tx *prompts.Texts) []string {
		var k []string
		for name := range tx.Sounds {
			k = append(k, name)
		}
		sort.Strings(k)
		return k
	}
	want := keys(texts["en"])
	for lang, tx := range texts {
		if got := keys(tx); !slices.Equal(got, want) {
			t.Errorf("%s sounds %v\nen sounds %v", lang, got, want)
		}
	}
}

func TestPlanNamesMissingSoundAndLanguage(t *testing.T) {
	texts := builtin(t)
	_, err := prompts.Plan(texts, []string{"uk", "de"}, []string{"hotline-closed", "hotline-no-such-prompt"})
	var missing *prompts.MissingText
	if !errors.As(err, &missing) || missing.Lang != "uk" || missing.Sound != "hotline-no-such-prompt" {
		t.Fatalf("error %v, want a MissingText for hotline-no-such-prompt in uk", err)
	}
	if !strings.Contains(err.Error(), "no text for sound hotline-no-such-prompt in language uk") {
		t.Errorf("error %q does not name the sound and language", err)
	}
	if !errors.Is(err, prompts.ErrNoLanguage) || !strings.Contains(err.Error(), "language de") {
		t.Errorf("error %q does not report language de", err)
	}

	// A language whose number words are incomplete is refused too.
	uk := *texts["uk"]
	uk.Digits = map[string]prompts.Text{"0": {{Voice: "uk", Words: "нуль"}}}
	_, err = prompts.Plan(map[string]*prompts.Texts{"uk": &uk}, []string{"uk"}, nil)
	if err == nil || !strings.Contains(err.Error(), "no text for sound digits/hundred in language uk") {
		t.Errorf("error %v, want digits/hundred missing in uk", err)
	}

	if _, err := prompts.Plan(texts, []string{"en"}, []string{"../../etc/passwd"}); err == nil {
		t.Error("a sound name leaving the language directory was accepted")
	}
}

var numeral = regexp.MustCompile(`[0-9]+`)

// numerals collects the numerals of a text: the keys it tells callers to
// press.
func numerals(tx prompts.Text) []string {
	set := map[string]bool{}
	for _, s := range tx {
		for _, n := range numeral.FindAllString(s.Words, -1) {
			set[n] = true
		}
	}
	var out []string
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TestKeysInTextsMatchTheFlow: the keys each prompt asks for are the keys
// the call flow and the reference configuration take.
func TestKeysInTextsMatchTheFlow(t *testing.T) {
	texts := builtin(t)
	cfg := loadConfig(t, "../deploy/hotline.yaml")
	f := callflow.DefaultSettings().Features
	want := map[string][]string{
		// call.go asks for "1" to each of these.
		cfg.Prompts.CallbackOffer:      {"1"},
		cfg.Prompts.CaseRecognised:     {"1"},
		"hotline-owner-callback-offer": {"1"},
		"hotline-accept-transfer":      {f.Accept, f.Decline},
		"hotline-agent-menu":           {callflow.AgentKeyLogin, callflow.AgentKeyPause, callflow.AgentKeyResume, callflow.AgentKeyLogout},
	}
	var survey []string
	for d := range cfg.Survey.Digits {
		survey = append(survey, d)
	}
	want[cfg.Survey.Prompt] = survey
	for _, m := range cfg.Menus {
		var keys []string
		for d := range m.Options {
			keys = append(keys, d)
		}
		want[m.Prompt] = keys
	}
	for sound, keys := range want {
		sort.Strings(keys)
		for lang, tx := range texts {
			if got := numerals(tx.Sounds[sound]); !slices.Equal(got, keys) {
				t.Errorf("%s %s: keys %v, want %v: %q", lang, sound, got, keys, tx.Sounds[sound].String())
			}
		}
	}
}

func TestParseTextsRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown key", "voice: uk\nvoise: uk\n", "voise"},
		{"no voice", "sounds: {a: b}\n", "voice"},
		{"bad voice", "voice: \"-x\"\n", "voice"},
		{"empty text", "voice: uk\nsounds: {hotline-closed: \"\"}\n", "hotline-closed: empty text"},
		{"empty segment", "voice: uk\nsounds: {a: [{voice: ru, text: \" \"}]}\n", "a: empty text"},
		{"segment voice", "voice: uk\nsounds: {a: [{voice: \"r u\", text: x}]}\n", "not an espeak-ng voice"},
		{"speed", "voice: uk\nspeed: 1000\n", "speed"},
		{"escaping name", "voice: uk\nsounds: {../x: y}\n", "../x"},
		{"absolute name", "voice: uk\nsounds: {/etc/x: y}\n", "/etc/x"},
		{"digit in a directory", "voice: uk\ndigits: {a/b: y}\n", "a/b"},
		{"not a text", "voice: uk\nsounds: {a: {b: c}}\n", "a string or a list"},
		{"empty file", "", "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := prompts.ParseTexts("xx", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	tx, err := prompts.ParseTexts("xx", []byte("voice: uk\nsounds:\n  a: >-\n    two\n    lines\n  b: [{text: one}, {voice: ru, text: two}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tx.Speed != prompts.DefaultSpeed || tx.Sounds["a"].String() != "two lines" {
		t.Errorf("parsed %+v", tx)
	}
	if b := tx.Sounds["b"]; len(b) != 2 || b[0].Voice != "uk" || b[1].Voice != "ru" {
		t.Errorf("segments %+v, want the file's voice for the first", b)
	}
}

func FuzzParseTexts(f *testing.F) {
	for _, lang := range []string{"en", "uk"} {
		data, err := os.ReadFile("texts/" + lang + ".yaml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("voice: uk\nsounds: {a: [{voice: ru, text: x}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tx, err := prompts.ParseTexts("xx", data)
		if err != nil {
			return
		}
		for name, text := range tx.Sounds {
			if len(text) == 0 || strings.HasPrefix(name, "/") || strings.HasPrefix(name, "../") || path.Clean(name) != name {
				t.Fatalf("accepted sound %q: %+v", name, text)
			}
			for _, s := range text {
				if s.Voice == "" || strings.TrimSpace(s.Words) == "" {
					t.Fatalf("accepted an empty segment in %q", name)
				}
			}
		}
	})
}
