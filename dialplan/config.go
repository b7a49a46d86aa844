// Package dialplan reads and checks the hotline's one configuration file:
// how to reach Asterisk and Redis, the HTTP API, and the call flow itself —
// topics, service numbers, voice menus, business hours, agents and the
// transfer, callback, queue and survey policies.
//
// Decoding is strict and walks the YAML node tree by hand so that every
// problem carries the line it comes from, and every problem in a file is
// reported at once instead of one per run of `hotline check`.
package dialplan

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"
)

// Config is a loaded configuration. It is read-only after Parse returns; the
// daemon shares one *Config between goroutines without locking.
type Config struct {
	File string // the path it was read from, as given to Load or Parse

	ARI       ARI
	Redis     Redis
	HTTP      HTTP
	Node      Node
	Log       Log
	Languages Languages
	Topics    map[string]*Topic  // by topic name
	Numbers   map[string]*Number // by service number as written in the file
	Menus     map[string]*Menu   // by menu name
	Hours     map[string]*Hours  // by hours set name
	Agents    []*Agent           // in file order
	Transfer  Transfer
	Callback  Callback
	Queue     Queue
	Survey    Survey
	Prompts   Prompts

	warnings []Problem
	// lines maps a value's path ("topics.audit.hours", "agents[2].endpoint")
	// to the line of its key, so checks that run after decoding can still
	// point at the file.
	lines map[string]int
}

// Log is what the daemon logs: Level is the least severe level written
// (debug, info, warn or error; default info). A SIGHUP applies a new one.
type Log struct {
	Level slog.Level
}

// ARI is how the hotline reaches Asterisk's REST interface.
type ARI struct {
	URL            string // HTTP base, e.g. http://127.0.0.1:8088/ari
	WebsocketURL   string // events websocket; derived from URL when not set
	Application    string // Stasis application name
	Username       string
	Password       SecretRef
	RequestTimeout time.Duration // per REST request; the ARI client has none of its own
	ReconnectMin   time.Duration // first reconnect delay; doubles up to ReconnectMax
	ReconnectMax   time.Duration
}

// RedisMode says which go-redis client the addresses call for.
type RedisMode string

// Redis deployment modes.
const (
	RedisStandalone RedisMode = "standalone"
	RedisSentinel   RedisMode = "sentinel"
	RedisCluster    RedisMode = "cluster"
)

// Redis is where all shared state lives.
type Redis struct {
	Addrs        []string // one: standalone; several: cluster; with MasterName: sentinels
	MasterName   string   // Sentinel master name; empty unless Sentinel is used
	DB           int      // must be 0 in cluster mode
	Username     string
	Password     SecretRef
	KeyPrefix    string
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
}

// Mode derives the deployment mode from the addresses and master name.
func (r Redis) Mode() RedisMode {
	switch {
	case r.MasterName != "":
		return RedisSentinel
	case len(r.Addrs) > 1:
		return RedisCluster
	}
	return RedisStandalone
}

// HTTP is the API listener.
type HTTP struct {
	Listen       string    // host:port
	Tokens       SecretRef // tokens_file / tokens_env; see ParseTokens for the format
	MaxBodyBytes int64
}

// Node identifies this hotline process among several sharing one Redis.
type Node struct {
	Name string
}

// Languages are the prompt languages the hotline plays (Asterisk sound
// languages, e.g. "uk", "en" or "pt_BR").
type Languages struct {
	Default   string
	Supported []string
}

// Has reports whether code is one of the supported languages.
func (l Languages) Has(code string) bool {
	for _, s := range l.Supported {
		if s == code {
			return true
		}
	}
	return false
}

// Topic is one of the hotline's queues.
type Topic struct {
	Name        string
	Description string
	Prompt      string // sound announcing the topic (whispers, transfers); may be empty
	Hours       string // name of an hours set; empty means always open
	// DefaultPriority is the priority of agents who list the topic without
	// one. Lower is offered first.
	DefaultPriority int
	// HandleTime is the mean handle time wait estimates start from until
	// the topic's calls have measured one; zero takes queue.handle_time.
	HandleTime time.Duration
}

// Number is one service number and where it leads.
type Number struct {
	Number string // as written in the file
	Topic  string // exactly one of Topic and Menu is set
	Menu   string
	Lang   string // empty: the default language

}

// NumberRoute is where a dialled service number leads, with the language
// already resolved.
type NumberRoute struct {
	Number string
	Topic  string // exactly one of Topic and Menu is set
	Menu   string
	Lang   string // never empty
}

// Menu is a voice menu: a prompt, then one DTMF digit.
type Menu struct {
	Name    string
	Prompt  string
	Timeout time.Duration // wait for a digit after the prompt
	Retries int           // re-prompts after a wrong or missing digit before Default
	Default string        // topic taken when the retries run out
	Options map[string]MenuOption
}

// Option returns the option for one DTMF digit.
func (m *Menu) Option(digit string) (MenuOption, bool) {
	o, ok := m.Options[digit]
	return o, ok
}

// MenuOption is what one digit of a menu does. Exactly one of Topic and Menu
// is set; Lang, when set, switches the call's language for good (the caller
// chose it, so callbacks use it too).
type MenuOption struct {
	Digit string
	Topic string
	Menu  string
	Lang  string
}

// Agent is one configured agent.
type Agent struct {
	ID       string
	Name     string
	Endpoint string         // TECHNOLOGY/resource, e.g. PJSIP/100
	Topics   map[string]int // topic → priority; lower is offered first
	Senior   bool
}

// BlindPolicy is what happens to a blind transfer request.
type BlindPolicy string

// Blind transfer policies (docs/behaviour.md, Transfers).
const (
	BlindRefuse  BlindPolicy = "refuse"
	BlindConvert BlindPolicy = "convert"
)

// Transfer is the transfer policy.
type Transfer struct {
	Blind          BlindPolicy
	MaxHops        int
	MinNoteLength  int           // in characters (runes)
	ConsultTimeout time.Duration // from the target answering to accepting or declining
	Whisper        bool          // play topic, case and note to the target before connecting
}

// Callback is the callback policy.
type Callback struct {
	OfferWaitThreshold time.Duration // estimated wait above which a callback is offered
	KeepPosition       bool          // a queued callback is dialled when it reaches the head
	Attempts           int
	Spacing            time.Duration // between attempts
	OwnerDeadline      time.Duration // then the callback escalates to the seniors
	DialTemplate       string        // contains ${NUMBER}
	CallerID           string
}

// ErrBadNumber is returned for a telephone number that is not digits with
// an optional leading +.
var ErrBadNumber = errors.New("not a telephone number")

// DialString fills the dial template with a caller's number. The number
// comes from the network, so anything but digits and a leading + is refused
// rather than spliced into a dial string.
func (c Callback) DialString(number string) (string, error) {
	if !isDialableNumber(number) {
		return "", fmt.Errorf("dial string %q: %w", number, ErrBadNumber)
	}
	return strings.ReplaceAll(c.DialTemplate, numberPlaceholder, number), nil
}

const numberPlaceholder = "${NUMBER}"

// Queue is the waiting policy.
type Queue struct {
	RingTimeout   time.Duration // how long an offered agent rings
	WrapUp        time.Duration // after each call; zero for none
	AnnounceEvery time.Duration // position and wait announcements; zero for never
	MOHClass      string
	// HandleTime is the starting mean handle time of topics without their
	// own (topics.NAME.handle_time).
	HandleTime time.Duration
	// Whisper tells an agent answering a queued caller the topic (and that
	// the caller is back about an open case) before they are connected.
	Whisper bool
}

// Survey is the after-call rating.
type Survey struct {
	Enabled bool
	Prompt  string
	Digits  map[string]int // DTMF digit → score (≥ 1; 0 means not rated)
	Timeout time.Duration
}

// Prompts are the sound names the call flow plays, by purpose.
type Prompts struct {
	Closed            string // the topic is closed now
	CallbackOffer     string // press 1 to be called back
	CallbackScheduled string // you will be called back
	OwnerCallback     string // the agent who has your case will call you back
	Transferring      string // you are being transferred
	TransferReturned  string // back to the agent who transferred you
	Position          string // your position in the queue is…
	EstimatedWait     string // your estimated wait is…
	InvalidOption     string // wrong or missing digit
	CaseRecognised    string // press 1 if you are calling about your open case
	Goodbye           string
}

// Route returns where a dialled service number leads. A number configured
// with a leading + also matches without it, and the other way round, since
// trunks differ on that.
func (c *Config) Route(number string) (NumberRoute, bool) {
	n, ok := c.Numbers[number]
	if !ok {
		alt := "+" + number
		if strings.HasPrefix(number, "+") {
			alt = number[1:]
		}
		if n, ok = c.Numbers[alt]; !ok {
			return NumberRoute{}, false
		}
	}
	lang := n.Lang
	if lang == "" {
		lang = c.Languages.Default
	}
	return NumberRoute{Number: n.Number, Topic: n.Topic, Menu: n.Menu, Lang: lang}, true
}

// Topic returns a topic by name.
func (c *Config) Topic(name string) (*Topic, bool) {
	t, ok := c.Topics[name]
	return t, ok
}

// Menu returns a menu by name.
func (c *Config) Menu(name string) (*Menu, bool) {
	m, ok := c.Menus[name]
	return m, ok
}

// Agent returns an agent by id.
func (c *Config) Agent(id string) (*Agent, bool) {
	for _, a := range c.Agents {
		if a.ID == id {
			return a, true
		}
	}
	return nil, false
}

// TopicNames returns the topic names, sorted.
func (c *Config) TopicNames() []string {
	names := make([]string, 0, len(c.Topics))
	for n := range c.Topics {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TopicOpen reports whether a topic takes calls at t. A topic without hours
// is always open; an unknown topic is closed.
func (c *Config) TopicOpen(topic string, t time.Time) bool {
	tp, ok := c.Topics[topic]
	if !ok {
		return false
	}
	if tp.Hours == "" {
		return true
	}
	h, ok := c.Hours[tp.Hours]
	return ok && h.OpenAt(t)
}

// TopicNextOpen returns when a topic next opens at or after t: t itself when
// it is open, the zero time when it never opens (unknown topic or hours).
func (c *Config) TopicNextOpen(topic string, t time.Time) time.Time {
	tp, ok := c.Topics[topic]
	if !ok {
		return time.Time{}
	}
	if tp.Hours == "" {
		return t
	}
	h, ok := c.Hours[tp.Hours]
	if !ok {
		return time.Time{}
	}
	return h.NextOpen(t)
}

// Warnings returns the problems that do not stop the hotline (for example
// a topic no agent serves). They are never part of the error Parse returns.
func (c *Config) Warnings() []Problem {
	return append([]Problem(nil), c.warnings...)
}

// Summary describes the configuration in one line.
func (c *Config) Summary() string {
	seniors := 0
	for _, a := range c.Agents {
		if a.Senior {
			seniors++
		}
	}
	return fmt.Sprintf("%s: %s, %s, %s, %s (%d senior)", c.File,
		plural(len(c.Topics), "topic"), plural(len(c.Numbers), "number"),
		plural(len(c.Menus), "menu"), plural(len(c.Agents), "agent"), seniors)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Load reads and checks a configuration file. When the file has problems it
// returns the configuration as far as it could be read together with a
// Problems error; warnings alone are not an error (see Config.Warnings).
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		c := defaults()
		c.File = path
		return c, Problems{{File: path, Message: err.Error()}}
	}
	return Parse(path, data)
}

// Parse is Load on bytes already read; filename is used in problems and to
// resolve relative secret file paths.
func Parse(filename string, data []byte) (*Config, error) {
	d := newDecoder(filename)
	c := d.decodeFile(data)
	c.File = filename
	probs := d.probs
	if !d.fatal {
		errs, warns := c.validate()
		probs = append(probs, errs...)
		c.warnings = warns
	}
	for i := range probs {
		probs[i].File = filename
	}
	for i := range c.warnings {
		c.warnings[i].File = filename
	}
	sortProblems(probs)
	sortProblems(c.warnings)
	if len(probs) > 0 {
		return c, probs
	}
	return c, nil
}

// Validate checks the cross references and policies of a configuration,
// for example one built in code. Parse already runs it. It returns the
// errors; warnings are kept for Warnings.
func (c *Config) Validate() error {
	errs, warns := c.validate()
	for i := range errs {
		errs[i].File = c.File
	}
	for i := range warns {
		warns[i].File = c.File
	}
	c.warnings = warns
	sortProblems(errs)
	if len(errs) > 0 {
		return errs
	}
	return nil
}
