package dialplan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var (
	nameRe     = regexp.MustCompile(`^[a-z0-9_-]+$`)
	agentIDRe  = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	phoneRe    = regexp.MustCompile(`^\+?[0-9]+$`)
	dtmfRe     = regexp.MustCompile(`^[0-9*#]$`)
	langRe     = regexp.MustCompile(`^[a-z]{2,3}(_[A-Za-z]{2,4})?$`)
	endpointRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*/[^\s/]\S*$`)
	appRe      = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	envRe      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// soundRe is what Asterisk plays as a sound name: a path under its
	// sounds directory, without the extension. Anything else (spaces,
	// control characters, a NUL that C would cut the name at, an absolute
	// path) is refused here rather than sent in a playback URI; ".." is
	// refused beside it.
	soundRe = regexp.MustCompile(`^[A-Za-z0-9_.-][A-Za-z0-9_./-]*$`)
)

// isDialableNumber checks a number that is spliced into a dial string:
// digits and a leading + only. It is deliberately stricter than
// routing.IsPhoneNumber, which accepts what people write (spaces, dashes,
// parentheses) in a form and is never dialled as it stands.
func isDialableNumber(s string) bool { return phoneRe.MatchString(s) }

// Limits that keep a hostile or broken file from costing more than a
// moment to check.
const (
	maxAliasChain  = 64
	maxMergeDepth  = 8
	maxMerges      = 1000
	maxWeeklyRules = 64
)

// defaults is the configuration before the file is applied over it.
func defaults() *Config {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "hotline"
	}
	return &Config{
		ARI: ARI{
			URL:            "http://127.0.0.1:8088/ari",
			Application:    "hotline",
			Username:       "hotline",
			RequestTimeout: 10 * time.Second,
			ReconnectMin:   500 * time.Millisecond,
			ReconnectMax:   30 * time.Second,
		},
		Redis: Redis{
			Addrs:        []string{"127.0.0.1:6379"},
			KeyPrefix:    "hotline:",
			DialTimeout:  5 * time.Second,
			ReadTimeout:  3 * time.Second,
			WriteTimeout: 3 * time.Second,
		},
		HTTP:      HTTP{Listen: "127.0.0.1:8080", MaxBodyBytes: 1 << 20},
		Node:      Node{Name: host},
		Languages: Languages{Default: "en", Supported: []string{"en"}},
		Topics:    map[string]*Topic{},
		Numbers:   map[string]*Number{},
		Menus:     map[string]*Menu{},
		Hours:     map[string]*Hours{},
		Transfer: Transfer{
			Blind:          BlindRefuse,
			MaxHops:        4,
			MinNoteLength:  10,
			ConsultTimeout: 20 * time.Second,
			Whisper:        true,
		},
		Callback: Callback{
			OfferWaitThreshold: 2 * time.Minute,
			KeepPosition:       true,
			Attempts:           3,
			Spacing:            10 * time.Minute,
			OwnerDeadline:      4 * time.Hour,
		},
		Queue: Queue{
			RingTimeout:   20 * time.Second,
			WrapUp:        30 * time.Second,
			AnnounceEvery: 45 * time.Second,
			MOHClass:      "default",
			HandleTime:    3 * time.Minute,
			Whisper:       true,
		},
		Survey: Survey{
			Prompt:  "hotline-survey",
			Digits:  map[string]int{"1": 1, "2": 2},
			Timeout: 5 * time.Second,
		},
		Prompts: Prompts{
			Closed:            "hotline-closed",
			CallbackOffer:     "hotline-callback-offer",
			CallbackScheduled: "hotline-callback-scheduled",
			OwnerCallback:     "hotline-owner-callback",
			Transferring:      "hotline-transferring",
			TransferReturned:  "hotline-transfer-returned",
			Position:          "hotline-position",
			EstimatedWait:     "hotline-estimated-wait",
			InvalidOption:     "option-is-invalid",
			CaseRecognised:    "hotline-case-recognised",
			Goodbye:           "vm-goodbye",
		},
		lines: map[string]int{},
	}
}

type decoder struct {
	dir    string // relative secret files are resolved against the config's directory
	probs  Problems
	fatal  bool // the YAML itself could not be read; semantic checks would only add noise
	merges int  // merge keys expanded so far, against maxMerges
	lines  map[string]int
}

func newDecoder(filename string) *decoder {
	return &decoder{dir: filepath.Dir(filename)}
}

func (d *decoder) errorf(line int, format string, args ...any) {
	d.probs = append(d.probs, Problem{Line: line, Message: fmt.Sprintf(format, args...)})
}

// parseYAML reads exactly one document. The recover is a last line of
// defence: a checker must answer, never crash, whatever it is given.
func parseYAML(data []byte) (root *yaml.Node, extraLine int, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("yaml: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, nil
		}
		return nil, 0, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		extraLine = extra.Line
	} else if !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	if len(doc.Content) == 0 {
		return nil, extraLine, nil
	}
	return doc.Content[0], extraLine, nil
}

func (d *decoder) decodeFile(data []byte) *Config {
	c := defaults()
	d.lines = c.lines
	root, extra, err := parseYAML(data)
	if err != nil {
		d.probs = append(d.probs, yamlProblem("", data, err))
		d.fatal = true
		return c
	}
	if extra > 0 {
		d.errorf(extra, "only one YAML document is allowed")
	}
	if root == nil {
		return c
	}
	d.mapping("", root, map[string]fieldFn{
		"ari":   func(p string, v *yaml.Node) { d.ari(&c.ARI, p, v) },
		"redis": func(p string, v *yaml.Node) { d.redis(&c.Redis, p, v) },
		"http":  func(p string, v *yaml.Node) { d.http(&c.HTTP, p, v) },
		"node": func(p string, v *yaml.Node) {
			d.mapping(p, v, map[string]fieldFn{"name": d.ident(&c.Node.Name, appRe, "letters, digits, _ . or -")})
		},
		"languages": func(p string, v *yaml.Node) { d.languages(&c.Languages, p, v) },
		"log": func(p string, v *yaml.Node) {
			d.mapping(p, v, map[string]fieldFn{"level": d.logLevel(&c.Log.Level)})
		},
		"topics":   func(p string, v *yaml.Node) { d.topics(c, p, v) },
		"numbers":  func(p string, v *yaml.Node) { d.numbers(c, p, v) },
		"menus":    func(p string, v *yaml.Node) { d.menus(c, p, v) },
		"hours":    func(p string, v *yaml.Node) { d.hoursSets(c, p, v) },
		"agents":   func(p string, v *yaml.Node) { d.agents(c, p, v) },
		"transfer": func(p string, v *yaml.Node) { d.transfer(&c.Transfer, p, v) },
		"callback": func(p string, v *yaml.Node) { d.callback(&c.Callback, p, v) },
		"queue":    func(p string, v *yaml.Node) { d.queue(&c.Queue, p, v) },
		"survey":   func(p string, v *yaml.Node) { d.survey(&c.Survey, p, v) },
		"prompts":  func(p string, v *yaml.Node) { d.prompts(&c.Prompts, p, v) },
	})
	if c.ARI.WebsocketURL == "" {
		c.ARI.WebsocketURL = deriveWebsocketURL(c.ARI.URL)
	}
	for _, a := range c.Agents {
		for name, prio := range a.Topics {
			if prio == unsetPriority {
				prio = 0
				if t, ok := c.Topics[name]; ok {
					prio = t.DefaultPriority
				}
				a.Topics[name] = prio
			}
		}
	}
	return c
}

// fieldFn decodes the value of one key; path is the key's dotted path.
type fieldFn func(path string, v *yaml.Node)

type pair struct{ k, v *yaml.Node }

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxAliasChain; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "an alias"
}

// pairs lists a mapping's entries with YAML merge keys ("<<: *base")
// expanded; keys written in the mapping win over merged ones.
func (d *decoder) pairs(path string, n *yaml.Node, depth int) []pair {
	var explicit, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			if depth >= maxMergeDepth {
				d.errorf(k.Line, "%s: merge keys nested too deep", path)
				continue
			}
			v = resolve(v)
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			for _, s := range srcs {
				s = resolve(s)
				switch {
				case s.Kind != yaml.MappingNode:
					d.errorf(k.Line, "%s: << must merge a mapping, got %s", path, describe(s))
					continue
				case s == n:
					d.errorf(k.Line, "%s: a mapping cannot merge itself", path)
					continue
				}
				// Aliases let a few lines merge the same mappings into each
				// other exponentially often; a budget keeps that bounded.
				d.merges++
				if d.merges > maxMerges {
					if d.merges == maxMerges+1 {
						d.errorf(k.Line, "%s: more than %d merges in the file", path, maxMerges)
					}
					continue
				}
				merged = append(merged, d.pairs(path, s, depth+1)...)
			}
			continue
		}
		explicit = append(explicit, pair{k, v})
	}
	if len(merged) == 0 {
		return explicit
	}
	have := map[string]bool{}
	for _, p := range explicit {
		have[p.k.Value] = true
	}
	out := explicit
	for _, p := range merged {
		if !have[p.k.Value] {
			have[p.k.Value] = true
			out = append(out, p)
		}
	}
	return out
}

// entries returns a mapping's entries after checking that it is a mapping
// with scalar keys written once. noun names a key in problems ("duplicate
// number"). A missing or empty value is an empty mapping.
func (d *decoder) entries(path string, n *yaml.Node, noun string) []pair {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, "%s: expected a mapping, got %s", orTop(path), describe(n))
		return nil
	}
	first := map[string]int{}
	var out []pair
	for _, p := range d.pairs(path, n, 0) {
		if p.k.Kind != yaml.ScalarNode {
			d.errorf(p.k.Line, "%s: keys must be plain strings, got %s", orTop(path), describe(p.k))
			continue
		}
		if l, dup := first[p.k.Value]; dup {
			d.errorf(p.k.Line, "%s: duplicate %s %q (first at line %d)", orTop(path), noun, p.k.Value, l)
			continue
		}
		first[p.k.Value] = p.k.Line
		d.lines[join(path, p.k.Value)] = p.k.Line
		out = append(out, p)
	}
	return out
}

func orTop(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

// mapping decodes a mapping with a fixed set of keys; any other key is an
// error naming it.
func (d *decoder) mapping(path string, n *yaml.Node, fields map[string]fieldFn) {
	for _, p := range d.entries(path, n, "key") {
		fn, ok := fields[p.k.Value]
		if !ok {
			d.errorf(p.k.Line, "%s: unknown key %q", orTop(path), p.k.Value)
			continue
		}
		fn(join(path, p.k.Value), p.v)
	}
}

// sequence returns a list's items; a single value stands for a list of one.
func (d *decoder) sequence(path string, n *yaml.Node) []*yaml.Node {
	n = resolve(n)
	switch {
	case isNull(n):
		return nil
	case n.Kind == yaml.SequenceNode:
		out := make([]*yaml.Node, len(n.Content))
		for i, it := range n.Content {
			out[i] = resolve(it)
		}
		return out
	}
	d.errorf(n.Line, "%s: expected a list, got %s", path, describe(n))
	return nil
}

func (d *decoder) scalar(path string, v *yaml.Node) (string, bool) {
	v = resolve(v)
	if isNull(v) {
		return "", true
	}
	if v.Kind != yaml.ScalarNode {
		d.errorf(v.Line, "%s: expected a string, got %s", path, describe(v))
		return "", false
	}
	return v.Value, true
}

// logLevel decodes debug, info, warn or error.
func (d *decoder) logLevel(dst *slog.Level) fieldFn {
	return func(p string, v *yaml.Node) {
		s, ok := d.scalar(p, v)
		if !ok {
			return
		}
		switch s {
		case "debug", "info", "warn", "error":
			_ = dst.UnmarshalText([]byte(s))
		default:
			d.errorf(resolve(v).Line, "%s: %q must be debug, info, warn or error", p, s)
		}
	}
}

func (d *decoder) str(dst *string) fieldFn {
	return func(p string, v *yaml.Node) {
		if s, ok := d.scalar(p, v); ok {
			*dst = s
		}
	}
}

// ident decodes a name that must match re; what describes the allowed form.
func (d *decoder) ident(dst *string, re *regexp.Regexp, what string) fieldFn {
	return func(p string, v *yaml.Node) {
		s, ok := d.scalar(p, v)
		if !ok {
			return
		}
		if !re.MatchString(s) {
			d.errorf(resolve(v).Line, "%s: %q must be %s", p, s, what)
			return
		}
		*dst = s
	}
}

// sound decodes an Asterisk sound name: what follows "sound:" in a
// playback URI.
func (d *decoder) sound(dst *string) fieldFn {
	return func(p string, v *yaml.Node) {
		s, ok := d.scalar(p, v)
		if !ok {
			return
		}
		switch {
		case s == "":
			d.errorf(resolve(v).Line, "%s: sound name is empty", p)
		case strings.HasPrefix(s, "sound:"):
			d.errorf(resolve(v).Line, "%s: write the sound name without the \"sound:\" prefix", p)
		case !soundRe.MatchString(s) || strings.Contains(s, ".."):
			d.errorf(resolve(v).Line, "%s: sound name %q must be letters, digits, _ - . and /, not starting with / and without ..", p, s)
		default:
			*dst = s
		}
	}
}

func (d *decoder) integer(dst *int, min int) fieldFn {
	return func(p string, v *yaml.Node) {
		v = resolve(v)
		if v.Kind != yaml.ScalarNode || v.Tag != "!!int" {
			d.errorf(v.Line, "%s: expected an integer, got %s", p, describe(v))
			return
		}
		n, err := strconv.ParseInt(strings.ReplaceAll(v.Value, "_", ""), 0, 32)
		if err != nil {
			d.errorf(v.Line, "%s: integer %s out of range", p, v.Value)
			return
		}
		if int(n) < min {
			d.errorf(v.Line, "%s: must be at least %d, got %d", p, min, n)
			return
		}
		*dst = int(n)
	}
}

func (d *decoder) boolean(dst *bool) fieldFn {
	return func(p string, v *yaml.Node) {
		v = resolve(v)
		if v.Kind == yaml.ScalarNode {
			// YAML 1.2 reads on/off/yes/no as strings; people write them
			// for switches, so they are accepted here.
			switch strings.ToLower(v.Value) {
			case "true", "on", "yes":
				*dst = true
				return
			case "false", "off", "no":
				*dst = false
				return
			}
		}
		d.errorf(v.Line, "%s: expected true or false, got %s", p, describe(v))
	}
}

// duration decodes a Go duration string ("20s", "4h"). Negative durations
// are never meaningful; zero only where it switches something off.
func (d *decoder) duration(dst *time.Duration, zeroOK bool) fieldFn {
	return func(p string, v *yaml.Node) {
		v = resolve(v)
		if v.Kind != yaml.ScalarNode || isNull(v) {
			d.errorf(v.Line, "%s: expected a duration such as \"20s\", got %s", p, describe(v))
			return
		}
		dur, err := time.ParseDuration(v.Value)
		switch {
		case err != nil:
			d.errorf(v.Line, "%s: expected a duration such as \"20s\", got %q", p, v.Value)
		case dur < 0:
			d.errorf(v.Line, "%s: must not be negative, got %s", p, v.Value)
		case dur == 0 && !zeroOK:
			d.errorf(v.Line, "%s: must be greater than zero", p)
		default:
			*dst = dur
		}
	}
}

// secret decodes a password_file / password_env pair into ref; key is the
// prefix ("password" or "tokens").
func (d *decoder) secretFields(fields map[string]fieldFn, key string, ref *SecretRef) {
	fields[key+"_file"] = func(p string, v *yaml.Node) {
		s, ok := d.scalar(p, v)
		if !ok || s == "" {
			if ok {
				d.errorf(resolve(v).Line, "%s: file name is empty", p)
			}
			return
		}
		if !filepath.IsAbs(s) {
			s = filepath.Join(d.dir, s)
		}
		d.setSecret(ref, p, resolve(v).Line, SecretRef{File: s})
	}
	fields[key+"_env"] = func(p string, v *yaml.Node) {
		s, ok := d.scalar(p, v)
		if !ok {
			return
		}
		if !envRe.MatchString(s) {
			d.errorf(resolve(v).Line, "%s: %q is not an environment variable name", p, s)
			return
		}
		d.setSecret(ref, p, resolve(v).Line, SecretRef{Env: s})
	}
	fields[key] = func(p string, v *yaml.Node) {
		d.errorf(resolve(v).Line, "%s: secrets are not written in the configuration; use %s_file or %s_env", p, key, key)
	}
}

func (d *decoder) setSecret(ref *SecretRef, path string, line int, r SecretRef) {
	if ref.IsSet() {
		d.errorf(line, "%s: set only one of %s and %s", path, ref.key, path)
		return
	}
	r.key, r.line = path, line
	*ref = r
}

func (d *decoder) ari(a *ARI, path string, v *yaml.Node) {
	fields := map[string]fieldFn{
		"url":             d.str(&a.URL),
		"websocket_url":   d.str(&a.WebsocketURL),
		"application":     d.ident(&a.Application, appRe, "letters, digits, _ . or -"),
		"username":        d.str(&a.Username),
		"request_timeout": d.duration(&a.RequestTimeout, false),
		"reconnect_backoff": func(p string, v *yaml.Node) {
			d.mapping(p, v, map[string]fieldFn{
				"min": d.duration(&a.ReconnectMin, false),
				"max": d.duration(&a.ReconnectMax, false),
			})
		},
	}
	d.secretFields(fields, "password", &a.Password)
	d.mapping(path, v, fields)
	d.checkURL(path+".url", a.URL, "http", "https")
	d.checkURL(path+".websocket_url", a.WebsocketURL, "ws", "wss")
	if a.ReconnectMin > a.ReconnectMax {
		d.errorf(d.lines[path+".reconnect_backoff"], "%s.reconnect_backoff: min %s is above max %s", path, a.ReconnectMin, a.ReconnectMax)
	}
}

func (d *decoder) checkURL(path, raw string, schemes ...string) {
	line, ok := d.lines[path]
	if !ok {
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		d.errorf(line, "%s: %q is not an absolute URL", path, raw)
		return
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return
		}
	}
	d.errorf(line, "%s: scheme must be %s, got %q", path, strings.Join(schemes, " or "), u.Scheme)
}

// deriveWebsocketURL turns the REST base into the events websocket URL the
// way Asterisk lays them out: http://h:8088/ari → ws://h:8088/ari/events.
func deriveWebsocketURL(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/events"
	return u.String()
}

func (d *decoder) hostPort(dst *string) fieldFn {
	return func(p string, v *yaml.Node) {
		s, ok := d.scalar(p, v)
		if !ok {
			return
		}
		if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
			d.errorf(resolve(v).Line, "%s: %q must be host:port", p, s)
			return
		}
		*dst = s
	}
}

func (d *decoder) redis(r *Redis, path string, v *yaml.Node) {
	fields := map[string]fieldFn{
		"addrs": func(p string, v *yaml.Node) {
			items := d.sequence(p, v)
			if items == nil {
				return
			}
			r.Addrs = r.Addrs[:0:0]
			for i, it := range items {
				var a string
				d.hostPort(&a)(fmt.Sprintf("%s[%d]", p, i), it)
				if a != "" {
					r.Addrs = append(r.Addrs, a)
				}
			}
			if len(items) == 0 {
				d.errorf(resolve(v).Line, "%s: at least one address is required", p)
			}
		},
		"master_name":   d.str(&r.MasterName),
		"db":            d.integer(&r.DB, 0),
		"username":      d.str(&r.Username),
		"key_prefix":    d.str(&r.KeyPrefix),
		"dial_timeout":  d.duration(&r.DialTimeout, false),
		"read_timeout":  d.duration(&r.ReadTimeout, false),
		"write_timeout": d.duration(&r.WriteTimeout, false),
	}
	d.secretFields(fields, "password", &r.Password)
	d.mapping(path, v, fields)
	if r.Mode() == RedisCluster && r.DB != 0 {
		d.errorf(d.lines[path+".db"], "%s.db: Redis Cluster has only database 0 (several addrs without master_name mean cluster)", path)
	}
}

func (d *decoder) http(h *HTTP, path string, v *yaml.Node) {
	var maxBody int
	fields := map[string]fieldFn{
		"listen":         d.hostPort(&h.Listen),
		"max_body_bytes": d.integer(&maxBody, 1),
	}
	d.secretFields(fields, "tokens", &h.Tokens)
	d.mapping(path, v, fields)
	if maxBody > 0 {
		h.MaxBodyBytes = int64(maxBody)
	}
}

func (d *decoder) languages(l *Languages, path string, v *yaml.Node) {
	code := func(p string, n *yaml.Node) (string, bool) {
		s, ok := d.scalar(p, n)
		if !ok {
			return "", false
		}
		if !langRe.MatchString(s) {
			d.errorf(resolve(n).Line, "%s: %q is not a language code (e.g. uk, en, pt_BR)", p, s)
			return "", false
		}
		return s, true
	}
	list := func(p string, n *yaml.Node) []string {
		var out []string
		seen := map[string]bool{}
		for i, it := range d.sequence(p, n) {
			if s, ok := code(fmt.Sprintf("%s[%d]", p, i), it); ok {
				if seen[s] {
					d.errorf(it.Line, "%s: language %q listed twice", p, s)
					continue
				}
				seen[s] = true
				out = append(out, s)
			}
		}
		return out
	}
	var def string
	var supported []string
	if n := resolve(v); n != nil && n.Kind == yaml.SequenceNode {
		// The short form: a plain list, the first is the default.
		supported = list(path, n)
	} else {
		d.mapping(path, v, map[string]fieldFn{
			"default": func(p string, n *yaml.Node) {
				if s, ok := code(p, n); ok {
					def = s
				}
			},
			"supported": func(p string, n *yaml.Node) { supported = list(p, n) },
		})
	}
	switch {
	case len(supported) == 0 && def == "":
		return
	case len(supported) == 0:
		supported = []string{def}
	case def == "":
		def = supported[0]
	}
	l.Default, l.Supported = def, supported
}

func (d *decoder) topics(c *Config, path string, v *yaml.Node) {
	for _, e := range d.entries(path, v, "topic") {
		name := e.k.Value
		p := join(path, name)
		if !nameRe.MatchString(name) {
			d.errorf(e.k.Line, "%s: topic name %q must be lowercase letters, digits, _ or -", path, name)
		}
		t := &Topic{Name: name}
		d.mapping(p, e.v, map[string]fieldFn{
			"description":      d.str(&t.Description),
			"prompt":           d.sound(&t.Prompt),
			"hours":            d.str(&t.Hours),
			"default_priority": d.integer(&t.DefaultPriority, 0),
			"handle_time":      d.duration(&t.HandleTime, false),
		})
		c.Topics[name] = t
	}
}

func (d *decoder) numbers(c *Config, path string, v *yaml.Node) {
	// A service number reaches us as the Stasis argument, with or without
	// the leading + depending on the trunk, so "+380…" and "380…" are the
	// same number.
	seen := map[string]string{}
	for _, e := range d.entries(path, v, "number") {
		num := e.k.Value
		p := join(path, num)
		if !phoneRe.MatchString(num) {
			d.errorf(e.k.Line, "%s: service number %q must be digits, optionally after +", path, num)
			continue
		}
		bare := strings.TrimPrefix(num, "+")
		if other, dup := seen[bare]; dup {
			d.errorf(e.k.Line, "%s: duplicate number %q: same as %q (line %d)", path, num, other, d.lines[join(path, other)])
			continue
		}
		seen[bare] = num
		n := &Number{Number: num}
		d.mapping(p, e.v, map[string]fieldFn{
			"topic": d.str(&n.Topic),
			"menu":  d.str(&n.Menu),
			"lang":  d.str(&n.Lang),
		})
		c.Numbers[num] = n
	}
}

func (d *decoder) menus(c *Config, path string, v *yaml.Node) {
	for _, e := range d.entries(path, v, "menu") {
		name := e.k.Value
		p := join(path, name)
		if !nameRe.MatchString(name) {
			d.errorf(e.k.Line, "%s: menu name %q must be lowercase letters, digits, _ or -", path, name)
		}
		m := &Menu{Name: name, Timeout: 5 * time.Second, Retries: 2, Options: map[string]MenuOption{}}
		d.mapping(p, e.v, map[string]fieldFn{
			"prompt":  d.sound(&m.Prompt),
			"timeout": d.duration(&m.Timeout, false),
			"retries": d.integer(&m.Retries, 0),
			"default": d.str(&m.Default),
			"options": func(p string, v *yaml.Node) {
				for _, o := range d.entries(p, v, "digit") {
					digit := o.k.Value
					if !dtmfRe.MatchString(digit) {
						d.errorf(o.k.Line, "%s: %q is not a DTMF digit (0-9, \"*\" or \"#\")", p, digit)
						continue
					}
					opt := MenuOption{Digit: digit}
					d.mapping(join(p, digit), o.v, map[string]fieldFn{
						"topic": d.str(&opt.Topic),
						"menu":  d.str(&opt.Menu),
						"lang":  d.str(&opt.Lang),
					})
					m.Options[digit] = opt
				}
				if n := resolve(v); n.Kind == yaml.MappingNode && len(n.Content) == 0 || isNull(n) {
					d.errorf(n.Line, "%s: a menu needs at least one option", p)
				}
			},
		})
		c.Menus[name] = m
	}
}

func (d *decoder) agents(c *Config, path string, v *yaml.Node) {
	for i, it := range d.sequence(path, v) {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.lines[p] = it.Line
		a := &Agent{Topics: map[string]int{}}
		d.mapping(p, it, map[string]fieldFn{
			"id":       d.str(&a.ID),
			"name":     d.str(&a.Name),
			"endpoint": d.str(&a.Endpoint),
			"senior":   d.boolean(&a.Senior),
			"topics":   func(tp string, v *yaml.Node) { d.agentTopics(c, a, tp, v) },
		})
		if a.Name == "" {
			a.Name = a.ID
		}
		c.Agents = append(c.Agents, a)
	}
}

// agentTopics reads an agent's topics: a list of names, a list mixing
// names and {name: priority}, or a mapping name → priority. Priorities
// not given are resolved in validate, once every topic is known.
func (d *decoder) agentTopics(c *Config, a *Agent, path string, v *yaml.Node) {
	add := func(p string, k *yaml.Node, prio int) {
		if _, dup := a.Topics[k.Value]; dup {
			d.errorf(k.Line, "%s: topic %q listed twice", p, k.Value)
			return
		}
		a.Topics[k.Value] = prio
		d.lines[join(p, k.Value)] = k.Line
	}
	prio := func(p string, k, pv *yaml.Node) {
		// A bad priority is reported; the topic is still taken, so the
		// agent is not also reported as having no topics.
		n := unsetPriority
		d.integer(&n, 0)(join(p, k.Value), pv)
		add(p, k, n)
	}
	defer func() {
		if len(a.Topics) == 0 {
			d.errorf(resolve(v).Line, "%s: an agent must take at least one topic", path)
		}
	}()
	n := resolve(v)
	if n != nil && n.Kind == yaml.MappingNode {
		for _, e := range d.pairs(path, n, 0) {
			prio(path, resolve(e.k), e.v)
		}
		return
	}
	for _, it := range d.sequence(path, v) {
		switch {
		case it.Kind == yaml.ScalarNode && !isNull(it):
			add(path, it, unsetPriority)
		case it.Kind == yaml.MappingNode && len(it.Content) == 2:
			prio(path, resolve(it.Content[0]), it.Content[1])
		default:
			d.errorf(it.Line, "%s: expected a topic name or {topic: priority}, got %s", path, describe(it))
		}
	}
}

// unsetPriority marks an agent topic listed without a priority; validate
// replaces it with the topic's default priority.
const unsetPriority = -1

func (d *decoder) transfer(t *Transfer, path string, v *yaml.Node) {
	d.mapping(path, v, map[string]fieldFn{
		"blind": func(p string, v *yaml.Node) {
			s, ok := d.scalar(p, v)
			if !ok {
				return
			}
			switch BlindPolicy(s) {
			case BlindRefuse, BlindConvert:
				t.Blind = BlindPolicy(s)
			default:
				d.errorf(resolve(v).Line, "%s: must be refuse or convert, got %q", p, s)
			}
		},
		"max_hops":        d.integer(&t.MaxHops, 1),
		"min_note_length": d.integer(&t.MinNoteLength, 0),
		"consult_timeout": d.duration(&t.ConsultTimeout, false),
		"whisper":         d.boolean(&t.Whisper),
	})
}

func (d *decoder) callback(cb *Callback, path string, v *yaml.Node) {
	d.mapping(path, v, map[string]fieldFn{
		"offer_wait_threshold": d.duration(&cb.OfferWaitThreshold, true),
		"keep_position":        d.boolean(&cb.KeepPosition),
		"attempts":             d.integer(&cb.Attempts, 1),
		"spacing":              d.duration(&cb.Spacing, false),
		"owner_deadline":       d.duration(&cb.OwnerDeadline, false),
		"dial_template": func(p string, v *yaml.Node) {
			s, ok := d.scalar(p, v)
			if !ok {
				return
			}
			if !strings.Contains(s, numberPlaceholder) {
				d.errorf(resolve(v).Line, "%s: %q must contain %s where the caller's number goes", p, s, numberPlaceholder)
				return
			}
			cb.DialTemplate = s
		},
		"caller_id": d.str(&cb.CallerID),
	})
}

func (d *decoder) queue(q *Queue, path string, v *yaml.Node) {
	d.mapping(path, v, map[string]fieldFn{
		"ring_timeout":   d.duration(&q.RingTimeout, false),
		"wrap_up":        d.duration(&q.WrapUp, true),
		"announce_every": d.duration(&q.AnnounceEvery, true),
		"moh_class":      d.ident(&q.MOHClass, appRe, "letters, digits, _ . or -"),
		"whisper":        d.boolean(&q.Whisper),
		"handle_time":    d.duration(&q.HandleTime, false),
	})
}

func (d *decoder) survey(s *Survey, path string, v *yaml.Node) {
	d.mapping(path, v, map[string]fieldFn{
		"enabled": d.boolean(&s.Enabled),
		"prompt":  d.sound(&s.Prompt),
		"timeout": d.duration(&s.Timeout, false),
		"digits": func(p string, v *yaml.Node) {
			s.Digits = map[string]int{}
			for _, e := range d.entries(p, v, "digit") {
				if !dtmfRe.MatchString(e.k.Value) {
					d.errorf(e.k.Line, "%s: %q is not a DTMF digit (0-9, \"*\" or \"#\")", p, e.k.Value)
					continue
				}
				score := 0
				// Score 0 is how a case says "not rated", so scores start at 1.
				d.integer(&score, 1)(join(p, e.k.Value), e.v)
				if score > 0 {
					s.Digits[e.k.Value] = score
				}
			}
		},
	})
}

func (d *decoder) prompts(pr *Prompts, path string, v *yaml.Node) {
	d.mapping(path, v, map[string]fieldFn{
		"closed":             d.sound(&pr.Closed),
		"callback_offer":     d.sound(&pr.CallbackOffer),
		"callback_scheduled": d.sound(&pr.CallbackScheduled),
		"owner_callback":     d.sound(&pr.OwnerCallback),
		"transferring":       d.sound(&pr.Transferring),
		"transfer_returned":  d.sound(&pr.TransferReturned),
		"position":           d.sound(&pr.Position),
		"estimated_wait":     d.sound(&pr.EstimatedWait),
		"invalid_option":     d.sound(&pr.InvalidOption),
		"case_recognised":    d.sound(&pr.CaseRecognised),
		"goodbye":            d.sound(&pr.Goodbye),
	})
}
