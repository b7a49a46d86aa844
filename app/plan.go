package app

import (
	"sort"
	"strings"
	"time"

	"github.com/hotline-project/hotline/callflow"
	"github.com/hotline-project/hotline/dialplan"
	"github.com/hotline-project/hotline/routing"
)

// plan is the call flow's view of the configuration (callflow.Plan).
type plan struct {
	cfg      *dialplan.Config
	prompts  map[string]string // call-flow prompt name → sound name
	settings callflow.Settings
}

var _ callflow.Plan = (*plan)(nil)

// NewPlan adapts a loaded configuration to the call flow.
func NewPlan(cfg *dialplan.Config) callflow.Plan {
	p := cfg.Prompts
	prompts := map[string]string{
		callflow.PromptUnknownNumber:    "hotline-unknown-number",
		callflow.PromptClosed:           p.Closed,
		callflow.PromptCallbackOffer:    p.CallbackOffer,
		callflow.PromptCallbackConfirm:  p.CallbackScheduled,
		callflow.PromptReturning:        p.CaseRecognised,
		callflow.PromptOwnerCallback:    "hotline-owner-callback-offer",
		callflow.PromptPosition:         p.Position,
		callflow.PromptWait:             p.EstimatedWait,
		callflow.PromptMinutes:          "minutes",
		callflow.PromptTransferring:     p.Transferring,
		callflow.PromptTransferDeclined: p.TransferReturned,
		callflow.PromptAcceptTransfer:   "hotline-accept-transfer",
		callflow.PromptOwnerWillCall:    p.OwnerCallback,
		callflow.PromptSeniorWillCall:   "hotline-senior-callback",
		callflow.PromptPaused:           "hotline-pause-after-call",
		callflow.PromptSurvey:           cfg.Survey.Prompt,
		callflow.PromptThanks:           p.Goodbye,
		callflow.PromptFeatureError:     p.InvalidOption,
		callflow.PromptUnavailable:      "hotline-unavailable",
		callflow.PromptAgentMenu:        "hotline-agent-menu",
		callflow.PromptAgentOK:          "hotline-agent-ok",
		callflow.PromptAgentError:       "hotline-agent-error",
		callflow.PromptCallbackIn:       "hotline-callback-in",
		callflow.PromptHours:            "hours",
		callflow.PromptDays:             "days",
	}
	for name, t := range cfg.Topics {
		if t.Prompt != "" {
			prompts[callflow.PromptTopicPrefix+name] = t.Prompt
		}
	}
	s := callflow.DefaultSettings()
	s.AgentLang = cfg.Languages.Default
	s.MOHClass = cfg.Queue.MOHClass
	s.AnnounceInterval = cfg.Queue.AnnounceEvery
	if s.AnnounceInterval == 0 {
		// announce_every: 0s is "never"; the call flow's zero is "unset".
		s.AnnounceInterval = -1
	}
	s.ConsultTimeout = cfg.Transfer.ConsultTimeout
	s.NoWhisper = !cfg.Transfer.Whisper
	s.NoAnswerWhisper = !cfg.Queue.Whisper
	s.CallbackCallerID = cfg.Callback.CallerID
	s.Features.TopicDigits = topicDigits(cfg)
	s.Survey = callflow.Survey{
		Enabled: cfg.Survey.Enabled,
		Prompt:  callflow.PromptSurvey,
		Digits:  cfg.Survey.Digits,
		Timeout: cfg.Survey.Timeout,
	}
	return &plan{cfg: cfg, prompts: prompts, settings: s}
}

// topicDigits gives each topic the digit callers use for it in the menus,
// so agents consult a topic (*2 + digit) with the digit they already know.
// Menus are read in name order; the first digit seen for a topic wins.
func topicDigits(cfg *dialplan.Config) map[string]string {
	names := make([]string, 0, len(cfg.Menus))
	for n := range cfg.Menus {
		names = append(names, n)
	}
	sort.Strings(names)
	digits := map[string]string{}
	taken := map[string]bool{}
	for _, n := range names {
		m := cfg.Menus[n]
		keys := make([]string, 0, len(m.Options))
		for d := range m.Options {
			keys = append(keys, d)
		}
		sort.Strings(keys)
		for _, d := range keys {
			o := m.Options[d]
			if o.Topic == "" || o.Lang != "" || taken[o.Topic] {
				continue
			}
			if _, used := digits[d]; used {
				continue
			}
			digits[d] = o.Topic
			taken[o.Topic] = true
		}
	}
	return digits
}

func (p *plan) Route(number string) (callflow.Route, bool) {
	r, ok := p.cfg.Route(number)
	if !ok {
		return callflow.Route{}, false
	}
	out := callflow.Route{Number: r.Number, Topic: r.Topic, Menu: r.Menu, Lang: r.Lang, Action: callflow.ActionTopic}
	if r.Menu != "" {
		out.Action = callflow.ActionMenu
	}
	return out, true
}

func (p *plan) Menu(name string) (callflow.Menu, bool) {
	m, ok := p.cfg.Menu(name)
	if !ok {
		return callflow.Menu{}, false
	}
	opts := make(map[string]callflow.MenuOption, len(m.Options))
	for d, o := range m.Options {
		opts[d] = callflow.MenuOption{Topic: o.Topic, Menu: o.Menu, Lang: o.Lang}
	}
	// The menu's own prompt is looked up by name like every other prompt.
	return callflow.Menu{Name: m.Name, Prompt: "menu." + m.Name, Timeout: m.Timeout, Retries: m.Retries, Default: m.Default, Options: opts}, true
}

func (p *plan) Open(topic string, t time.Time) bool { return p.cfg.TopicOpen(topic, t) }

func (p *plan) NextOpen(topic string, t time.Time) time.Time { return p.cfg.TopicNextOpen(topic, t) }

// Prompt gives the media of a named prompt. The language is Asterisk's
// per-playback lang, so one sound name serves every language.
func (p *plan) Prompt(name, lang string) string {
	if strings.HasPrefix(name, "menu.") {
		if m, ok := p.cfg.Menu(strings.TrimPrefix(name, "menu.")); ok && m.Prompt != "" {
			return "sound:" + m.Prompt
		}
		return ""
	}
	if strings.HasPrefix(name, callflow.PromptRefusedPrefix) {
		return "sound:hotline-refused-" + strings.ReplaceAll(strings.TrimPrefix(name, callflow.PromptRefusedPrefix), "_", "-")
	}
	if s, ok := p.prompts[name]; ok && s != "" {
		return "sound:" + s
	}
	return ""
}

// whisperSounds tell an agent what kind of call is about to connect; a
// queued caller needs no word beyond the topic.
var whisperSounds = map[callflow.WhisperKind]string{
	callflow.WhisperReturning: "hotline-whisper-returning",
	callflow.WhisperCallback:  "hotline-whisper-callback",
	callflow.WhisperTransfer:  "hotline-whisper-transfer",
}

// Whisper is what an agent hears before being connected: the topic, then
// the kind of call. A second or two: the case id and the note are on the
// agent desk before the agent answers.
func (p *plan) Whisper(topic string, kind callflow.WhisperKind) []string {
	var media []string
	if s := p.Prompt(callflow.PromptTopicPrefix+topic, ""); s != "" {
		media = append(media, s)
	}
	if s := whisperSounds[kind]; s != "" {
		media = append(media, "sound:"+s)
	}
	return media
}

// Sounds lists, sorted, every sound name (played as sound:NAME) the daemon
// may play with cfg, in each of its languages: what `hotline prompts`
// generates and `hotline check --ari` looks for. Numbers (number:N) need
// Asterisk's digits/ sounds besides.
func Sounds(cfg *dialplan.Config) []string {
	p := NewPlan(cfg).(*plan)
	set := map[string]bool{}
	add := func(media string) {
		if name, ok := strings.CutPrefix(media, "sound:"); ok && name != "" {
			set[name] = true
		}
	}
	for name := range p.prompts {
		add(p.Prompt(name, ""))
	}
	for name := range cfg.Menus {
		add(p.Prompt("menu."+name, ""))
	}
	for _, code := range routing.RefusalCodes() {
		add(p.Prompt(callflow.PromptRefusedPrefix+string(code), ""))
	}
	for _, s := range whisperSounds {
		set[s] = true
	}
	out := make([]string, 0, len(set))
	for name := range set {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func (p *plan) CallbackEndpoint(number string) string {
	s, err := p.cfg.Callback.DialString(number)
	if err != nil || p.cfg.Callback.DialTemplate == "" {
		return ""
	}
	return s
}

// AgentFor names the agent whose phone is calling: the resource of the
// agent's endpoint (PJSIP/101 → 101) or the agent id.
func (p *plan) AgentFor(callerNumber string) (string, bool) {
	for _, a := range p.cfg.Agents {
		_, res, _ := strings.Cut(a.Endpoint, "/")
		if callerNumber != "" && (res == callerNumber || a.ID == callerNumber) {
			return a.ID, true
		}
	}
	return "", false
}

func (p *plan) Settings() callflow.Settings { return p.settings }
