package doctor

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hotline-project/hotline/ari"
	"github.com/hotline-project/hotline/dialplan"
)

// defaultLanguage is Asterisk's DEFAULT_LANGUAGE: the last place it looks
// for a sound missing in the caller's language.
const defaultLanguage = "en"

// availability is how Asterisk finds a sound for a caller of one language.
type availability int

const (
	present  availability = iota // in the language, or in it without its dialect (pt_BR → pt)
	fallback                     // only in defaultLanguage: the caller hears that
	absent                       // nowhere: the playback fails, the caller hears nothing
)

// soundIndex maps a sound's id to the languages it is installed in.
type soundIndex map[string]map[string]bool

func indexSounds(have []ari.Sound) soundIndex {
	ix := soundIndex{}
	for _, s := range have {
		langs := ix[s.ID]
		if langs == nil {
			langs = map[string]bool{}
			ix[s.ID] = langs
		}
		for _, f := range s.Formats {
			langs[f.Language] = true
		}
	}
	return ix
}

// lookup follows main/file.c fileexists_core: the language, then the
// language without its dialect or style codes, then (after sounds/NAME
// without a language, which ARI does not list) the default language.
func (ix soundIndex) lookup(name, lang string) availability {
	langs := ix[name]
	for l := lang; l != ""; {
		if langs[l] {
			return present
		}
		i := strings.LastIndexByte(l, '_')
		if i < 0 {
			break
		}
		l = l[:i]
	}
	if langs[defaultLanguage] {
		return fallback
	}
	return absent
}

// byLanguage splits langs into those where name is missing with nothing to
// fall back on and those where Asterisk falls back on defaultLanguage.
func (ix soundIndex) byLanguage(name string, langs []string) (missing, fellBack []string) {
	for _, l := range langs {
		switch ix.lookup(name, l) {
		case absent:
			missing = append(missing, l)
		case fallback:
			fellBack = append(fellBack, l)
		}
	}
	return missing, fellBack
}

// promptKeys are the keys under prompts: with the sound each names.
func promptKeys(p dialplan.Prompts) [][2]string {
	return [][2]string{
		{"closed", p.Closed}, {"callback_offer", p.CallbackOffer}, {"callback_scheduled", p.CallbackScheduled},
		{"owner_callback", p.OwnerCallback}, {"transferring", p.Transferring}, {"transfer_returned", p.TransferReturned},
		{"position", p.Position}, {"estimated_wait", p.EstimatedWait}, {"invalid_option", p.InvalidOption},
		{"case_recognised", p.CaseRecognised}, {"goodbye", p.Goodbye},
	}
}

// soundKeys maps each sound the configuration names to the keys naming
// it, those written in the file first (by line), then defaults by name.
func soundKeys(cfg *dialplan.Config) map[string][]string {
	keys := map[string][]string{}
	add := func(key, sound string) {
		if sound != "" {
			keys[sound] = append(keys[sound], key)
		}
	}
	for _, kv := range promptKeys(cfg.Prompts) {
		add("prompts."+kv[0], kv[1])
	}
	add("survey.prompt", cfg.Survey.Prompt)
	for name, t := range cfg.Topics {
		add("topics."+name+".prompt", t.Prompt)
	}
	for name, m := range cfg.Menus {
		add("menus."+name+".prompt", m.Prompt)
	}
	for _, ks := range keys {
		slices.SortFunc(ks, func(a, b string) int {
			la, lb := cfg.Line(a), cfg.Line(b)
			switch {
			case la == 0 && lb != 0:
				return 1
			case la != 0 && lb == 0:
				return -1
			}
			return cmp.Or(cmp.Compare(la, lb), strings.Compare(a, b))
		})
	}
	return keys
}

// CheckSounds reports, per sound the daemon plays (wanted: app.Sounds),
// the supported languages it is missing in, at the line of the key that
// names it: an error where the playback would fail, a warning where
// Asterisk plays the default language's recording instead. Then the digits
// numbers are said with (CheckNumbers).
func CheckSounds(cfg *dialplan.Config, wanted []string, have []ari.Sound) []Finding {
	ix := indexSounds(have)
	keys := soundKeys(cfg)
	langs := cfg.Languages.Supported
	names := slices.Clone(wanted)
	slices.Sort(names)
	names = slices.Compact(names)
	var out []Finding
	for _, name := range names {
		missing, fellBack := ix.byLanguage(name, langs)
		what, line := "built-in sound "+name, 0
		if ks := keys[name]; len(ks) > 0 {
			what, line = list(ks)+": sound "+name, cfg.Line(ks[0])
		}
		if len(missing) > 0 {
			out = append(out, Finding{Line: line, Message: fmt.Sprintf("%s missing in %s", what, list(missing))})
		}
		if len(fellBack) > 0 {
			out = append(out, Finding{Line: line, Level: Warning, Message: fmt.Sprintf("%s missing in %s: callers hear the %s recording", what, list(fellBack), defaultLanguage)})
		}
	}
	sortFindings(out)
	return append(out, checkNumbers(cfg, ix)...)
}

// checkNumbers reports, per supported language, the digits/ sounds
// missing for saying numbers (number:N: queue positions, waits, callback
// times), at the line listing the languages.
func checkNumbers(cfg *dialplan.Config, ix soundIndex) []Finding {
	line := cfg.Line("languages.supported")
	if line == 0 {
		line = cfg.Line("languages")
	}
	var out []Finding
	for _, lang := range cfg.Languages.Supported {
		syntax, files := numberSounds(lang)
		if files == nil {
			out = append(out, Finding{Line: line, Level: Note, Message: fmt.Sprintf(
				"numbers (number:N) in %s not checked: Asterisk says them with its %s syntax, which the doctor does not model; check that %s has digits/ sounds",
				lang, syntax, lang)})
			continue
		}
		how := fmt.Sprintf("Asterisk's %s number syntax", syntaxNames[syntax])
		if !strings.HasPrefix(strings.ToLower(lang), syntax) {
			how += " (which it uses for " + lang + ")"
		}
		missing, fellBack := ix.byLanguageFiles(files, lang)
		switch {
		case len(missing) == len(files):
			out = append(out, Finding{Line: line, Message: fmt.Sprintf(
				"numbers (number:N) in %s: none of the %d digits/ sounds %s needs for 0–99 is installed (%s): install Asterisk's core sounds for %s",
				lang, len(files), how, abbreviate(files), lang)})
		case len(missing) > 0:
			out = append(out, Finding{Line: line, Message: fmt.Sprintf(
				"numbers (number:N) in %s: %s missing (%d of the %d digits/ sounds %s needs for 0–99)",
				lang, abbreviate(missing), len(missing), len(files), how)})
		}
		if len(fellBack) > 0 {
			out = append(out, Finding{Line: line, Level: Warning, Message: fmt.Sprintf(
				"numbers (number:N) in %s: %s missing: callers hear those in %s", lang, abbreviate(fellBack), defaultLanguage)})
		}
	}
	return out
}

// byLanguageFiles splits files into those missing in lang with nothing to
// fall back on and those Asterisk takes from the default language.
func (ix soundIndex) byLanguageFiles(files []string, lang string) (missing, fellBack []string) {
	for _, f := range files {
		switch ix.lookup(f, lang) {
		case absent:
			missing = append(missing, f)
		case fallback:
			fellBack = append(fellBack, f)
		}
	}
	return missing, fellBack
}

// abbreviate lists at most eight names.
func abbreviate(names []string) string {
	const most = 8
	if len(names) <= most {
		return list(names)
	}
	return fmt.Sprintf("%s … and %d more", list(names[:most]), len(names)-most)
}

// syntaxNames are the number syntaxes of main/say.c, by say_number_full's
// language prefix.
var syntaxNames = map[string]string{
	"en_gb": "British English", "en": "English", "cs": "Czech", "da": "Danish", "de": "German",
	"es": "Spanish", "fr": "French", "gr": "Greek", "ja": "Japanese", "he": "Hebrew",
	"hu": "Hungarian", "is": "Icelandic", "it": "Italian", "ka": "Georgian", "nl": "Dutch",
	"no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ru": "Russian", "se": "Swedish",
	"th": "Thai", "zh": "Chinese", "ur": "Urdu", "vi": "Vietnamese", "dr": "Dari", "ps": "Pashto",
}

// numberSyntax is the syntax say_number_full (main/say.c) picks for a
// language: the first of its prefixes the language starts with, ignoring
// case, "en_GB" before "en"; English for every language it does not know
// (uk among them).
func numberSyntax(lang string) string {
	l := strings.ToLower(lang)
	if strings.HasPrefix(l, "en_gb") {
		return "en_gb"
	}
	if len(l) >= 2 {
		if _, ok := syntaxNames[l[:2]]; ok {
			return l[:2]
		}
	}
	return "en"
}

// numberSounds is a representative set of the sounds number:N needs in
// lang: the digits/ files say.c's number function for lang's syntax plays
// for 0 to 99 (positions and waits are small numbers; hundreds and
// thousands add digits/hundred and digits/thousand besides). It is nil
// for the syntaxes not modelled here (for those, say.c plays files such as
// digits/1m that only that syntax knows).
func numberSounds(lang string) (syntax string, files []string) {
	syntax = numberSyntax(lang)
	say, ok := numberFiles[syntax]
	if !ok {
		return syntax, nil
	}
	seen := map[string]bool{}
	for n := 0; n <= 99; n++ {
		for _, f := range say(n) {
			if !seen[f] {
				seen[f] = true
				files = append(files, f)
			}
		}
	}
	return syntax, files
}

// numberFiles mirrors, for 0 ≤ n ≤ 99 and no gender option, the files
// main/say.c plays for n: ast_say_number_full_en (get_number_str_en) and
// _en_GB, _ru and _pl (the same files below 100), _fr, _es, _de and _it.
var numberFiles = map[string]func(n int) []string{
	"en":    saySimple,
	"en_gb": saySimple,
	"ru":    saySimple,
	"pl":    saySimple,
	"fr": func(n int) []string {
		// 70–79 are 60 and 10–19, 80–99 are 80 and 1–19; 21, 31, ... 71
		// put "et" before their one.
		var tens, rest int
		switch {
		case n <= 20:
			return digits(n)
		case n < 70:
			tens, rest = n/10*10, n%10
		case n < 80:
			tens, rest = 60, n-60
		default:
			tens, rest = 80, n-80
		}
		out := digits(tens)
		if n < 80 && n%10 == 1 {
			out = append(out, "digits/et")
		}
		if rest > 0 {
			out = append(out, digits(rest)...)
		}
		return out
	},
	"es": func(n int) []string {
		if n < 31 {
			return digits(n)
		}
		out := digits(n / 10 * 10)
		if n%10 > 0 {
			out = append(out, "digits/and")
			out = append(out, digits(n%10)...)
		}
		return out
	},
	"de": func(n int) []string {
		if n < 20 || n%10 == 0 {
			return digits(n)
		}
		return []string{"digits/" + strconv.Itoa(n%10) + "-and", "digits/" + strconv.Itoa(n/10*10)}
	},
	"it": func(n int) []string {
		// 21, 28, 31, 38, ... 98: one word each, the vowel elided.
		if n < 20 || (n%10 == 1 || n%10 == 8) {
			return digits(n)
		}
		out := digits(n / 10 * 10)
		if n%10 > 0 {
			out = append(out, digits(n%10)...)
		}
		return out
	},
}

// saySimple is English below 100: one file up to 19, then the tens and the
// ones.
func saySimple(n int) []string {
	if n < 20 || n%10 == 0 {
		return digits(n)
	}
	return []string{"digits/" + strconv.Itoa(n/10*10), "digits/" + strconv.Itoa(n%10)}
}

func digits(n int) []string { return []string{"digits/" + strconv.Itoa(n)} }
