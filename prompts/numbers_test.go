package prompts

import (
	"slices"
	"strings"
	"testing"
)

func TestNumberSyntax(t *testing.T) {
	for lang, want := range map[string]string{
		"en": syntaxEN, "en_US": syntaxEN, "EN": syntaxEN,
		"uk": syntaxEN, "ua": syntaxEN, "uk_UA": syntaxEN, // no Ukrainian branch in say.c
		"ru": syntaxRU, "ru_RU": syntaxRU, "pl": syntaxPL, "pl_PL": syntaxPL,
		"xx": syntaxEN, // say.c's default
	} {
		got, err := numberSyntax(lang)
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", lang, got, err, want)
		}
	}
	for _, lang := range []string{"en_GB", "de", "fr", "pt_BR", "cs"} {
		if _, err := numberSyntax(lang); err == nil || !strings.Contains(err.Error(), "ast_say_number_full_") {
			t.Errorf("%s: %v, want an error naming the say.c function", lang, err)
		}
	}
}

// The files say.c plays, read off main/say.c of Asterisk 22.10.1.
func TestSayNumber(t *testing.T) {
	for _, tc := range []struct {
		syntax string
		n      int
		want   string
	}{
		{syntaxEN, 0, "0"},
		{syntaxEN, 7, "7"},
		{syntaxEN, 20, "20"},
		{syntaxEN, 21, "20 1"},
		{syntaxEN, 100, "1 hundred"},
		{syntaxEN, 235, "2 hundred 30 5"},
		{syntaxEN, 1000, "1 thousand"},
		{syntaxEN, 21045, "20 1 thousand 40 5"},
		{syntaxEN, 999999, "9 hundred 90 9 thousand 9 hundred 90 9"},
		{syntaxRU, 0, "0"},
		{syntaxRU, 1, "1"},
		{syntaxRU, 2, "2"},
		{syntaxRU, 235, "200 30 5"},
		{syntaxRU, 1000, "1f thousand"},
		{syntaxRU, 2000, "2f thousands-i"},
		{syntaxRU, 3000, "3 thousands-i"},
		{syntaxRU, 5000, "5 thousands"},
		{syntaxRU, 11000, "11 thousands"},
		{syntaxRU, 21000, "20 1f thousand"},
		{syntaxRU, 100000, "100 thousands"},
		{syntaxRU, 102001, "100 2f thousands-i 1"},
		{syntaxPL, 0, "0"},
		{syntaxPL, 10, "10"},
		{syntaxPL, 15, "15"},
		{syntaxPL, 235, "200 30 5"},
		{syntaxPL, 1000, "1 1000"},
		{syntaxPL, 2000, "2 1000.2"},
		{syntaxPL, 5000, "5 1000.5"},
		{syntaxPL, 12000, "12 1000.5"},
		{syntaxPL, 22000, "20 2 1000.2"},
		{syntaxPL, 1001, "1 1000 1"},
	} {
		if got := strings.Join(sayNumber(tc.syntax, tc.n), " "); got != tc.want {
			t.Errorf("%s %d: %q, want %q", tc.syntax, tc.n, got, tc.want)
		}
	}
}

// TestNumberFilesCoverEveryNumber checks NumberFiles against every number
// it claims, 0 to 999 999.
func TestNumberFilesCoverEveryNumber(t *testing.T) {
	// One language per say.c function: uk reads as en.
	for _, lang := range []string{"en", "ru", "pl"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			files, err := NumberFiles(lang)
			if err != nil {
				t.Fatal(err)
			}
			syn, _ := numberSyntax(lang)
			used := map[string]bool{}
			for n := 0; n <= maxNumber; n++ {
				for _, f := range sayNumber(syn, n) {
					used[f] = true
					if _, ok := slices.BinarySearch(files, f); !ok {
						t.Fatalf("%d plays digits/%s, not in NumberFiles", n, f)
					}
				}
			}
			if len(used) != len(files) {
				t.Errorf("NumberFiles has %d files, numbers use %d", len(files), len(used))
			}
		})
	}
}

// TestTextsHaveExactlyTheNumberWords: each language's digits are the
// files its say.c function plays, no more (a stale word would be
// synthesized for nothing) and no fewer (Plan refuses those).
func TestTextsHaveExactlyTheNumberWords(t *testing.T) {
	texts, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for lang, tx := range texts {
		want, err := NumberFiles(lang)
		if err != nil {
			t.Fatal(err)
		}
		if got := sortedKeys(tx.Digits); !slices.Equal(got, want) {
			t.Errorf("%s: digits %v, want %v", lang, got, want)
		}
	}
}
