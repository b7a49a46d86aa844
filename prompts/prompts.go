// Package prompts is the hotline's own prompt set: the texts of every
// sound the daemon plays, one file per language (texts/<lang>.yaml,
// embedded), and a generator that speaks them with espeak-ng and converts
// them with sox to what Asterisk plays best, 8 kHz mono 16-bit WAV in
// DIR/<lang>/<name>.wav. A stock Asterisk has none of these sounds: without
// them a caller hears silence (ARI answers a play of a missing sound with
// 201 and then reports PlaybackFinished "failed").
//
// Numbers (number:N) are read by Asterisk itself from digits/ files whose
// names depend on the language's say.c function (see NumberFiles); each
// language's texts carry those words too, and Generate can take them from
// Asterisk's core sounds where a package ships them.
//
// Plan checks that the texts cover a configuration's sounds in each of its
// languages and lists the files; Generate writes them.
package prompts

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed texts/*.yaml
var textFiles embed.FS

// DefaultSpeed is espeak-ng's speaking rate (words per minute) when a
// texts file sets none: a little slower than espeak-ng's 175, for the
// telephone.
const DefaultSpeed = 150

// Texts are one language's prompt texts.
type Texts struct {
	Lang   string
	Voice  string          // espeak-ng voice, e.g. "uk" or "en-us"
	Speed  int             // words per minute
	Sounds map[string]Text // sound name (as in sound:NAME) → what it says
	Digits map[string]Text // file under digits/ (as say.c names it) → the number word
}

// Text is what one sound says: one or more segments, each in its own
// voice, played one after the other (a language menu speaks each
// language in its own voice).
type Text []Segment

// Segment is a run of words spoken with one espeak-ng voice.
type Segment struct {
	Voice string
	Words string
}

// String is the text's words, segments joined by spaces.
func (t Text) String() string {
	parts := make([]string, len(t))
	for i, s := range t {
		parts[i] = s.Words
	}
	return strings.Join(parts, " ")
}

// UnmarshalYAML reads a text: a string, or a list of {voice, text}.
func (t *Text) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		var s string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*t = Text{{Words: s}}
		return nil
	case yaml.SequenceNode:
		var segs []struct {
			Voice string `yaml:"voice"`
			Text  string `yaml:"text"`
		}
		if err := n.Decode(&segs); err != nil {
			return err
		}
		out := make(Text, len(segs))
		for i, s := range segs {
			out[i] = Segment{Voice: s.Voice, Words: s.Text}
		}
		*t = out
		return nil
	}
	return fmt.Errorf("line %d: a text is a string or a list of {voice, text}", n.Line)
}

// ParseTexts reads one language's texts file. Unknown keys, empty texts
// and unsafe sound names are errors; a segment without a voice takes the
// file's.
func ParseTexts(lang string, data []byte) (*Texts, error) {
	var raw struct {
		Voice  string          `yaml:"voice"`
		Speed  int             `yaml:"speed"`
		Sounds map[string]Text `yaml:"sounds"`
		Digits map[string]Text `yaml:"digits"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("texts %s: empty", lang)
		}
		return nil, fmt.Errorf("texts %s: %w", lang, err)
	}
	t := &Texts{Lang: lang, Voice: raw.Voice, Speed: raw.Speed, Sounds: raw.Sounds, Digits: raw.Digits}
	var problems []string
	if !isVoice(t.Voice) {
		problems = append(problems, fmt.Sprintf("voice %q: want an espeak-ng voice name such as uk or en-us", t.Voice))
	}
	if t.Speed == 0 {
		t.Speed = DefaultSpeed
	}
	if t.Speed < 80 || t.Speed > 450 {
		problems = append(problems, fmt.Sprintf("speed %d: espeak-ng takes 80 to 450 words per minute", t.Speed))
	}
	check := func(kind string, m map[string]Text) {
		for _, name := range sortedKeys(m) {
			if err := checkName(name); err != nil {
				problems = append(problems, fmt.Sprintf("%s %q: %v", kind, name, err))
				continue
			}
			text := m[name]
			if len(text) == 0 {
				problems = append(problems, fmt.Sprintf("%s %s: empty text", kind, name))
			}
			for i := range text {
				text[i].Words = strings.Join(strings.Fields(text[i].Words), " ")
				if text[i].Voice == "" {
					text[i].Voice = t.Voice
				}
				if text[i].Words == "" {
					problems = append(problems, fmt.Sprintf("%s %s: empty text", kind, name))
				}
				if !isVoice(text[i].Voice) {
					problems = append(problems, fmt.Sprintf("%s %s: voice %q is not an espeak-ng voice name", kind, name, text[i].Voice))
				}
			}
		}
	}
	check("sound", t.Sounds)
	check("digits", t.Digits)
	for name := range t.Digits {
		if strings.Contains(name, "/") {
			problems = append(problems, fmt.Sprintf("digits %q: a file directly under digits/", name))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("texts %s: %s", lang, strings.Join(problems, "; "))
	}
	return t, nil
}

// Builtin returns the texts embedded in the hotline, by language.
func Builtin() (map[string]*Texts, error) {
	entries, err := textFiles.ReadDir("texts")
	if err != nil {
		return nil, fmt.Errorf("read texts: %w", err)
	}
	out := map[string]*Texts{}
	var errs []error
	for _, e := range entries {
		lang, ok := strings.CutSuffix(e.Name(), ".yaml")
		if !ok {
			continue
		}
		data, err := textFiles.ReadFile("texts/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("read texts: %w", err)
		}
		t, err := ParseTexts(lang, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[lang] = t
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// MissingText is a sound (or a number word, "digits/100") that a language
// has no text for.
type MissingText struct {
	Lang, Sound string
}

func (e *MissingText) Error() string {
	return fmt.Sprintf("no text for sound %s in language %s", e.Sound, e.Lang)
}

// ErrNoLanguage is wrapped by Plan for a language without a texts file.
var ErrNoLanguage = errors.New("no prompt texts for language")

// File is one sound file of the set.
type File struct {
	Lang  string
	Name  string // as Asterisk names it, without language and extension: "hotline-closed", "digits/5"
	Text  Text
	Speed int
	Word  bool // a number word: trimmed of silence so that numbers run together
}

// Plan lists the files of the set for languages and sound names (what
// app.Sounds returns for a configuration): every sound and every number
// word of each language. Every missing text is reported, each a
// *MissingText naming the sound and the language (errors.Join); a
// language without texts wraps ErrNoLanguage.
func Plan(texts map[string]*Texts, languages, sounds []string) ([]File, error) {
	var files []File
	var errs []error
	for _, s := range sounds {
		if err := checkName(s); err != nil {
			errs = append(errs, fmt.Errorf("sound %q: %w", s, err))
		}
	}
	for _, lang := range languages {
		t, ok := texts[lang]
		if !ok {
			errs = append(errs, fmt.Errorf("%w %s (texts exist for %s)", ErrNoLanguage, lang, strings.Join(sortedKeys(texts), ", ")))
			continue
		}
		for _, s := range sounds {
			text, ok := t.Sounds[s]
			if !ok {
				errs = append(errs, &MissingText{Lang: lang, Sound: s})
				continue
			}
			files = append(files, File{Lang: lang, Name: s, Text: text, Speed: t.Speed})
		}
		need, err := NumberFiles(lang)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, d := range need {
			if _, ok := t.Digits[d]; !ok {
				errs = append(errs, &MissingText{Lang: lang, Sound: "digits/" + d})
			}
		}
		// Every number word the texts have, also those this Asterisk does
		// not need for lang, so that the set does not depend on it.
		for _, d := range sortedKeys(t.Digits) {
			files = append(files, File{Lang: lang, Name: "digits/" + d, Text: t.Digits[d], Speed: t.Speed, Word: true})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return files, nil
}

// checkName refuses sound names that would leave DIR/<lang>.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case strings.ContainsAny(name, " \t\r\n\\:"):
		return errors.New("spaces, backslashes and colons are not allowed")
	case strings.HasPrefix(name, "/"), path.Clean(name) != name, strings.HasPrefix(name, "../"), name == "..", name == ".":
		return errors.New("not a clean relative path")
	case strings.HasPrefix(path.Base(name), "."):
		return errors.New("hidden file")
	}
	return nil
}

func isVoice(v string) bool {
	if v == "" || len(v) > 40 || strings.HasPrefix(v, "-") {
		return false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '+' || r == '/') {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
