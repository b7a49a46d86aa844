package prompts

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// How Asterisk 22 says number:N (res_stasis_playback.c calls
// ast_say_number with the playback's language and no options). say.c's
// say_number_full picks the function by the language's leading letters,
// case-insensitively: "en_GB" first, then two-letter prefixes (en, cs, da,
// de, es, fr, gr, ja, he, hu, is, it, ka, nl, no, pl, pt, ru, se, th, zh,
// ur, vi, dr, ps), and English for anything else. There is no "uk" (nor
// "ua") branch: Ukrainian numbers are read with the English function. The
// functions below mirror the three the hotline's languages reach, for
// 0 ≤ N < 1,000,000; each returns the files played, without "digits/".

// Number syntaxes: the say.c function that reads a language's numbers.
const (
	syntaxEN = "en" // ast_say_number_full_en → get_number_str_en
	syntaxRU = "ru" // ast_say_number_full_ru
	syntaxPL = "pl" // ast_say_number_full_pl → powiedz, neuter forms
)

// maxNumber bounds the numbers the set covers: the thousands, not the
// millions.
const maxNumber = 999_999

// otherSyntaxes are the say.c prefixes with functions of their own that
// the generator does not model.
var otherSyntaxes = []string{"cs", "da", "de", "es", "fr", "gr", "ja", "he", "hu", "is", "it", "ka", "nl", "no", "pt", "se", "th", "zh", "ur", "vi", "dr", "ps"}

// numberSyntax returns the say.c function Asterisk reads lang's numbers
// with, in say_number_full's order.
func numberSyntax(lang string) (string, error) {
	has := func(p string) bool { return len(lang) >= len(p) && strings.EqualFold(lang[:len(p)], p) }
	switch {
	case has("en_GB"):
		return "", fmt.Errorf("numbers in %s: Asterisk reads them with ast_say_number_full_en_GB, which prompts does not model", lang)
	case has("en"):
		return syntaxEN, nil
	case has("pl"):
		return syntaxPL, nil
	case has("ru"):
		return syntaxRU, nil
	}
	for _, p := range otherSyntaxes {
		if has(p) {
			return "", fmt.Errorf("numbers in %s: Asterisk reads them with ast_say_number_full_%s, which prompts does not model", lang, p)
		}
	}
	return syntaxEN, nil // say.c's default, "uk" among them
}

// NumberFiles lists, sorted, the files under digits/ (names without the
// directory or an extension) that Asterisk plays for number:N in lang,
// 0 ≤ N ≤ 999,999.
func NumberFiles(lang string) ([]string, error) {
	syn, err := numberSyntax(lang)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	// Below a thousand every number; above, N = k·1000 + r plays k's
	// thousands (which may differ from k alone) and then r.
	for n := 0; n < 1000; n++ {
		for _, f := range sayNumber(syn, n) {
			set[f] = true
		}
		for _, f := range sayNumber(syn, n*1000) {
			set[f] = true
		}
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out, nil
}

// sayNumber returns the digits/ files a syntax plays for n, in order.
func sayNumber(syntax string, n int) []string {
	switch syntax {
	case syntaxRU:
		if n == 0 {
			return []string{"0"} // ast_say_digits_full(chan, 0, ...)
		}
		return sayRU(n, "")
	case syntaxPL:
		return sayPL(n)
	}
	return sayEN(n)
}

// sayEN mirrors get_number_str_en: "2 hundred 30 5", "1 thousand".
func sayEN(n int) []string {
	if n == 0 {
		return []string{"0"}
	}
	var out []string
	if n >= 1000 {
		out = append(sayEN(n/1000), "thousand")
		n %= 1000
	}
	if n >= 100 {
		out = append(out, strconv.Itoa(n/100), "hundred")
		n %= 100
	}
	if n >= 20 {
		out = append(out, strconv.Itoa(n/10*10))
		n %= 10
	}
	if n > 0 {
		out = append(out, strconv.Itoa(n))
	}
	return out
}

// sayRU mirrors ast_say_number_full_ru (n > 0): "200 30 5"; thousands
// take the feminine 1f and 2f and thousand, thousands-i or thousands by
// their last digits.
func sayRU(n int, options string) []string {
	var out []string
	for n > 0 {
		switch {
		case n < 20:
			if len(options) == 1 && n < 3 {
				out = append(out, strconv.Itoa(n)+options)
			} else {
				out = append(out, strconv.Itoa(n))
			}
			n = 0
		case n < 100:
			out = append(out, strconv.Itoa(n-n%10))
			n %= 10
		case n < 1000:
			out = append(out, strconv.Itoa(n-n%100))
			n %= 100
		default:
			last := lastDigitsRU(n / 1000)
			opt := ""
			if last < 3 {
				opt = "f"
			}
			out = append(out, sayRU(n/1000, opt)...)
			switch {
			case last == 1:
				out = append(out, "thousand")
			case last > 1 && last < 5:
				out = append(out, "thousands-i")
			default:
				out = append(out, "thousands")
			}
			n %= 1000
		}
	}
	return out
}

// lastDigitsRU mirrors get_lastdigits_ru.
func lastDigitsRU(n int) int {
	switch {
	case n < 20:
		return n
	case n < 100:
		return lastDigitsRU(n % 10)
	case n < 1000:
		return lastDigitsRU(n % 100)
	}
	return 0
}

// sayPL mirrors ast_say_number_full_pl without options (the neuter
// "odmiana nieosobowa"): "200 30 5"; thousands are 1000, 1000.2 or 1000.5
// by pl_rzad_na_tekst.
func sayPL(n int) []string {
	if n == 0 {
		return []string{"0"}
	}
	return powiedzPL(0, n)
}

func powiedzPL(order, i int) []string {
	if i == 0 {
		return nil
	}
	var out []string
	m1000, i1000 := i%1000, i/1000
	out = append(out, powiedzPL(order+1, i1000)...)
	m100, i100 := m1000%100, m1000/100
	if i100 > 0 {
		out = append(out, strconv.Itoa(i100*100))
	}
	switch {
	case m100 > 0 && m100 <= 9:
		out = append(out, strconv.Itoa(m100))
	case m100%10 == 0 && m100 != 0:
		out = append(out, strconv.Itoa(m100))
	case m100 > 10 && m100 <= 19:
		out = append(out, strconv.Itoa(m100))
	case m100 > 20:
		out = append(out, strconv.Itoa(m100/10*10), strconv.Itoa(m100%10))
	}
	if order > 0 {
		forms := [...]string{"1000", "1000.2", "1000.5"}
		switch {
		case i == 1:
			out = append(out, forms[0])
		case (i > 21 || i < 11) && i%10 > 1 && i%10 < 5:
			out = append(out, forms[1])
		default:
			out = append(out, forms[2])
		}
	}
	return out
}
