package dialplan

import (
	"fmt"
	"sort"
	"strings"
)

// checker collects the problems of the checks that need the whole file:
// references between sections, duplicates across entries, cycles.
type checker struct {
	c     *Config
	errs  Problems
	warns Problems
}

// line returns the line of the first path the file set, or 0.
func (k *checker) line(paths ...string) int {
	for _, p := range paths {
		if l, ok := k.c.lines[p]; ok {
			return l
		}
	}
	return 0
}

func (k *checker) errorf(line int, format string, args ...any) {
	k.errs = append(k.errs, Problem{Line: line, Message: fmt.Sprintf(format, args...)})
}

func (k *checker) warnf(line int, format string, args ...any) {
	k.warns = append(k.warns, Problem{Line: line, Message: fmt.Sprintf(format, args...), Warning: true})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (c *Config) validate() (errs, warns Problems) {
	k := &checker{c: c}
	k.required()
	k.languages()
	k.topics()
	k.numbers()
	k.menus()
	k.menuCycles()
	k.hours()
	k.agents()
	k.policies()
	return k.errs, k.warns
}

func (k *checker) required() {
	// A missing section is reported on line 1, where it could begin.
	line := func(section string) int { return max(k.line(section), 1) }
	if len(k.c.Topics) == 0 {
		k.errorf(line("topics"), "topics: at least one topic is required")
	}
	if len(k.c.Numbers) == 0 {
		k.errorf(line("numbers"), "numbers: at least one service number is required")
	}
}

func (k *checker) languages() {
	l := k.c.Languages
	if l.Default != "" && !l.Has(l.Default) {
		k.errorf(k.line("languages.default", "languages"), "languages.default: %q is not in languages.supported (%s)", l.Default, strings.Join(l.Supported, ", "))
	}
}

// lang checks a reference to a language; path is where it was written.
func (k *checker) lang(path, code string) {
	if code != "" && !k.c.Languages.Has(code) {
		k.errorf(k.line(path), "%s: unknown language %q (languages: %s)", path, code, strings.Join(k.c.Languages.Supported, ", "))
	}
}

func (k *checker) topicRef(path, name string) {
	if _, ok := k.c.Topics[name]; !ok {
		k.errorf(k.line(path), "%s: unknown topic %q", path, name)
	}
}

func (k *checker) menuRef(path, name string) {
	if _, ok := k.c.Menus[name]; !ok {
		k.errorf(k.line(path), "%s: unknown menu %q", path, name)
	}
}

func (k *checker) topics() {
	served := map[string]bool{}
	for _, a := range k.c.Agents {
		for t := range a.Topics {
			served[t] = true
		}
	}
	for _, name := range sortedKeys(k.c.Topics) {
		t := k.c.Topics[name]
		p := "topics." + name
		if t.Hours != "" {
			if _, ok := k.c.Hours[t.Hours]; !ok {
				k.errorf(k.line(p+".hours", p), "%s.hours: unknown hours %q", p, t.Hours)
			}
		}
		if !served[name] {
			k.warnf(k.line(p), "%s: no agent serves this topic; its callers can only be offered a callback", p)
		}
	}
}

// destination checks a number's or menu option's target: exactly one of a
// topic and a menu.
func (k *checker) destination(path, topic, menu string) {
	switch {
	case topic != "" && menu != "":
		k.errorf(k.line(path+".menu", path), "%s: set either topic or menu, not both", path)
	case topic != "":
		k.topicRef(path+".topic", topic)
	case menu != "":
		k.menuRef(path+".menu", menu)
	default:
		k.errorf(k.line(path), "%s: needs a topic or a menu to go to", path)
	}
}

func (k *checker) numbers() {
	for _, num := range sortedKeys(k.c.Numbers) {
		n := k.c.Numbers[num]
		p := "numbers." + num
		k.destination(p, n.Topic, n.Menu)
		k.lang(p+".lang", n.Lang)
	}
}

func (k *checker) menus() {
	used := map[string]bool{}
	for _, n := range k.c.Numbers {
		used[n.Menu] = true
	}
	for _, m := range k.c.Menus {
		for _, o := range m.Options {
			if o.Menu != m.Name {
				used[o.Menu] = true
			}
		}
	}
	for _, name := range sortedKeys(k.c.Menus) {
		m := k.c.Menus[name]
		p := "menus." + name
		if m.Default == "" {
			k.errorf(k.line(p), "%s: default is required (the topic for callers who press nothing valid)", p)
		} else {
			k.topicRef(p+".default", m.Default)
		}
		// An options key that is there but unusable was reported already.
		if _, set := k.c.lines[p+".options"]; !set && len(m.Options) == 0 {
			k.errorf(k.line(p), "%s: options are required", p)
		}
		for _, digit := range sortedKeys(m.Options) {
			o := m.Options[digit]
			op := p + ".options." + digit
			k.destination(op, o.Topic, o.Menu)
			k.lang(op+".lang", o.Lang)
		}
		if !used[name] {
			k.warnf(k.line(p), "%s: no number or menu leads to this menu", p)
		}
	}
}

// menuCycles finds menus that lead back to themselves: a caller could go
// round them for ever. Each cycle is reported once, at the option that
// closes it.
func (k *checker) menuCycles() {
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(name string)
	visit = func(name string) {
		state[name] = onPath
		path = append(path, name)
		m := k.c.Menus[name]
		for _, digit := range k.inFileOrder("menus."+name+".options", sortedKeys(m.Options)) {
			next := m.Options[digit].Menu
			if _, ok := k.c.Menus[next]; !ok {
				continue
			}
			switch state[next] {
			case unseen:
				visit(next)
			case onPath:
				start := len(path) - 1
				for path[start] != next {
					start--
				}
				cycle := append(append([]string(nil), path[start:]...), next)
				op := "menus." + name + ".options." + digit
				k.errorf(k.line(op+".menu", op), "%s: menu cycle %s", op, strings.Join(cycle, " → "))
			}
		}
		path = path[:len(path)-1]
		state[name] = done
	}
	// Start where callers start, so a cycle is named the way they would
	// go round it: from the menus numbers lead to, then the rest.
	for _, num := range k.inFileOrder("numbers", sortedKeys(k.c.Numbers)) {
		if name := k.c.Numbers[num].Menu; state[name] == unseen && k.c.Menus[name] != nil {
			visit(name)
		}
	}
	for _, name := range k.inFileOrder("menus", sortedKeys(k.c.Menus)) {
		if state[name] == unseen {
			visit(name)
		}
	}
}

// inFileOrder sorts the keys of a section by the line they were written on.
func (k *checker) inFileOrder(section string, keys []string) []string {
	sort.SliceStable(keys, func(i, j int) bool {
		return k.line(section+"."+keys[i]) < k.line(section+"."+keys[j])
	})
	return keys
}

func (k *checker) hours() {
	used := map[string]bool{}
	for _, t := range k.c.Topics {
		used[t.Hours] = true
	}
	for _, name := range sortedKeys(k.c.Hours) {
		h := k.c.Hours[name]
		p := "hours." + name
		if _, set := k.c.lines[p+".weekly"]; !set && len(h.Weekly) == 0 {
			k.errorf(k.line(p), "%s: weekly is required; a topic with these hours would never open", p)
		}
		k.overlaps(p, h)
		if !used[name] {
			k.warnf(k.line(p), "%s: no topic uses these hours", p)
		}
	}
}

// overlaps reports two windows open on the same day at the same time: a
// typo more often than not, and ambiguous for NextOpen's announcements.
func (k *checker) overlaps(p string, h *Hours) {
	for j, b := range h.Weekly {
		for i, a := range h.Weekly[:j] {
			if a.Open >= b.Close || b.Open >= a.Close {
				continue
			}
			for _, day := range b.Days {
				if a.on(day) {
					bl, al := k.line(fmt.Sprintf("%s.weekly#%d", p, j), p), k.line(fmt.Sprintf("%s.weekly#%d", p, i))
					k.errorf(bl, "%s.weekly: %s %s-%s overlaps %s-%s (line %d)", p, dayName(day), b.Open, b.Close, a.Open, a.Close, al)
					break
				}
			}
		}
	}
}

func (k *checker) agents() {
	ids := map[string]int{}
	endpoints := map[string]string{}
	for i, a := range k.c.Agents {
		p := fmt.Sprintf("agents[%d]", i)
		who := p
		switch {
		case a.ID == "":
			k.errorf(k.line(p), "%s: id is required", p)
		case !agentIDRe.MatchString(a.ID):
			k.errorf(k.line(p+".id", p), "%s: id %q must be letters, digits, _ . or -", p, a.ID)
		default:
			who = "agent " + a.ID
			if first, dup := ids[a.ID]; dup {
				k.errorf(k.line(p+".id", p), "%s: duplicate agent id %q (first at line %d)", p, a.ID, first)
			} else {
				ids[a.ID] = k.line(p+".id", p)
			}
		}
		switch {
		case a.Endpoint == "":
			k.errorf(k.line(p), "%s: endpoint is required (e.g. PJSIP/100)", who)
		case !endpointRe.MatchString(a.Endpoint):
			k.errorf(k.line(p+".endpoint", p), "%s: endpoint %q must be TECHNOLOGY/resource (e.g. PJSIP/100)", who, a.Endpoint)
		default:
			if other, dup := endpoints[a.Endpoint]; dup {
				k.errorf(k.line(p+".endpoint", p), "%s: endpoint %s is already %s's", who, a.Endpoint, other)
			} else {
				endpoints[a.Endpoint] = who
			}
		}
		if _, set := k.c.lines[p+".topics"]; !set && len(a.Topics) == 0 {
			k.errorf(k.line(p), "%s: topics are required; an agent must take at least one topic", who)
		}
		for _, t := range sortedKeys(a.Topics) {
			if _, ok := k.c.Topics[t]; !ok {
				k.errorf(k.line(p+".topics."+t, p+".topics", p), "%s: unknown topic %q", who, t)
			}
		}
	}
}

func (k *checker) policies() {
	c := k.c
	if c.Survey.Enabled && len(c.Survey.Digits) == 0 {
		k.errorf(k.line("survey.digits", "survey"), "survey.digits: an enabled survey needs at least one digit")
	}
	if _, set := c.lines["callback.dial_template"]; !set && c.Callback.DialTemplate == "" {
		k.warnf(k.line("callback", ""), "callback.dial_template is not set; callbacks cannot be dialled")
	}
}
