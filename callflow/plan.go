package callflow

import "time"

// Plan is the call-flow view of the configuration. The configuration
// package implements it through a small adapter; the call flow never reads
// YAML or knows where numbers and prompts come from.
type Plan interface {
	// Route looks up a dialled service number.
	Route(number string) (Route, bool)
	// Menu looks up a voice menu by name.
	Menu(name string) (Menu, bool)
	// Open reports whether a topic takes calls at t (hours, holidays,
	// time zone).
	Open(topic string, t time.Time) bool
	// Prompt gives the media URI of a named prompt in a language, e.g.
	// "sound:hotline/closed". Empty means the prompt is not configured and
	// is skipped.
	Prompt(name, lang string) string
	// Whisper gives the media played to an agent before they are
	// connected: the topic and what kind of call it is. It is short by
	// design, since every answer waits for it: the case, the note and the
	// path are on the agent desk.
	Whisper(topic string, kind WhisperKind) []string
	// CallbackEndpoint is the dial string of a caller's number for
	// callbacks (the dial template applied), e.g. "PJSIP/5551234@trunk".
	CallbackEndpoint(number string) string
	// NextOpen is when a topic next takes calls at or after t (t itself
	// when it is open); the zero time when it never opens.
	NextOpen(topic string, t time.Time) time.Time
	// AgentFor names the agent calling from a phone number, for the agent
	// feature number.
	AgentFor(callerNumber string) (agentID string, ok bool)
	// Settings are the timings, feature codes and survey of the call flow.
	Settings() Settings
}

// WhisperKind is what an agent is told about a call before it connects.
type WhisperKind int

// Whisper kinds.
const (
	WhisperQueued    WhisperKind = iota // a caller from the queue
	WhisperReturning                    // a caller back about their open case
	WhisperCallback                     // a callback the agent is making
	WhisperTransfer                     // an attended transfer being consulted
)

// RouteAction is what a service number does.
type RouteAction string

// Route actions.
const (
	ActionTopic      RouteAction = "topic"       // straight to Route.Topic
	ActionMenu       RouteAction = "menu"        // Route.Menu first
	ActionAgentLogin RouteAction = "agent-login" // agents' own feature number
)

// Route is what a dialled service number leads to.
type Route struct {
	Number string
	Action RouteAction
	Topic  string
	Menu   string
	Lang   string
}

// Menu is a voice menu. A digit picks an option; a wrong or missing digit
// re-prompts up to Retries times, then the caller goes to Default.
type Menu struct {
	Name    string
	Prompt  string // prompt name
	Timeout time.Duration
	Retries int
	Default string // topic
	Options map[string]MenuOption
}

// MenuOption is one digit of a menu. An option that sets Lang switches the
// call's language for every later prompt and its callbacks; then it goes to
// Topic, else to Menu, else plays the same menu again in the new language.
type MenuOption struct {
	Topic string
	Menu  string
	Lang  string
}

// Features are the in-call DTMF codes of agents (docs/behaviour.md, Transfers) and the keys of
// a consult target.
type Features struct {
	ConsultTopic  string            // + topic digit, e.g. "*2" then "1"
	ConsultAgent  string            // + agent id + AgentIDEnd, e.g. "*3" "101" "#"
	AgentIDEnd    string            // terminates an agent id
	Complete      string            // "#": complete the pending transfer
	Cancel        string            // "*0": cancel it, back to the caller
	TakeOwnership string            // "*7": keep the case, schedule an owner callback
	PauseAfter    string            // "*9": pause after this call
	Escalate      string            // "*8": a senior operator calls the caller back (docs/behaviour.md, Requests)
	TopicDigits   map[string]string // digit → topic for ConsultTopic
	Accept        string            // target's key to take a transfer
	Decline       string            // target's key to refuse it
	InterDigit    time.Duration     // a code left unfinished this long is wrong
}

// Survey is the rating asked of the caller after the agent hangs up.
type Survey struct {
	Enabled bool
	Prompt  string
	Digits  map[string]int // digit → score
	Timeout time.Duration
}

// Settings gathers the timings and codes of the call flow.
type Settings struct {
	AgentLang        string        // language of prompts played to agents
	MOHClass         string        // music on hold class
	AnnounceInterval time.Duration // position and wait announcements while queued; negative: never
	AnswerTimeout    time.Duration // one-key questions (returning caller, callback offer)
	CallbackRing     time.Duration // how long a called-back caller rings
	OwnerCallbackIn  time.Duration // *7: when the owner callback is due
	AgentMenuTimeout time.Duration
	// ConsultTimeout bounds a consult from the target's answer until they
	// accept (or the agent completes); then it is cancelled back to the
	// transferring agent as a no-answer.
	ConsultTimeout time.Duration
	// NoWhisper skips the whisper to transfer targets (transfer.whisper
	// off), NoAnswerWhisper the one to an agent answering a queued caller
	// (queue.whisper off). Negative switches so that the zero Settings
	// whisper.
	NoWhisper       bool
	NoAnswerWhisper bool
	// CallbackCallerID is the caller id a called-back caller sees; empty
	// leaves it to Asterisk.
	CallbackCallerID string
	Features         Features
	Survey           Survey
}

// DefaultSettings are sensible values for anything a configuration leaves
// zero.
func DefaultSettings() Settings {
	return Settings{
		AgentLang:        "en",
		MOHClass:         "default",
		AnnounceInterval: 45 * time.Second,
		AnswerTimeout:    5 * time.Second,
		CallbackRing:     30 * time.Second,
		OwnerCallbackIn:  30 * time.Minute,
		AgentMenuTimeout: 8 * time.Second,
		ConsultTimeout:   2 * time.Minute,
		Features: Features{
			ConsultTopic: "*2", ConsultAgent: "*3", AgentIDEnd: "#",
			Complete: "#", Cancel: "*0", TakeOwnership: "*7", PauseAfter: "*9", Escalate: "*8",
			Accept: "1", Decline: "2", InterDigit: 3 * time.Second,
		},
		Survey: Survey{Enabled: true, Prompt: PromptSurvey, Digits: map[string]int{"1": 1, "2": 2}, Timeout: 8 * time.Second},
	}
}

// withDefaults fills zero values of s from DefaultSettings.
func withDefaults(s Settings) Settings {
	d := DefaultSettings()
	str := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	dur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	str(&s.AgentLang, d.AgentLang)
	str(&s.MOHClass, d.MOHClass)
	// Negative is "never" (queue.announce_every: 0s); only zero means unset.
	if s.AnnounceInterval == 0 {
		s.AnnounceInterval = d.AnnounceInterval
	}
	dur(&s.ConsultTimeout, d.ConsultTimeout)
	dur(&s.AnswerTimeout, d.AnswerTimeout)
	dur(&s.CallbackRing, d.CallbackRing)
	dur(&s.OwnerCallbackIn, d.OwnerCallbackIn)
	dur(&s.AgentMenuTimeout, d.AgentMenuTimeout)
	f, df := &s.Features, d.Features
	str(&f.ConsultTopic, df.ConsultTopic)
	str(&f.ConsultAgent, df.ConsultAgent)
	str(&f.AgentIDEnd, df.AgentIDEnd)
	str(&f.Complete, df.Complete)
	str(&f.Cancel, df.Cancel)
	str(&f.TakeOwnership, df.TakeOwnership)
	str(&f.PauseAfter, df.PauseAfter)
	str(&f.Escalate, df.Escalate)
	str(&f.Accept, df.Accept)
	str(&f.Decline, df.Decline)
	dur(&f.InterDigit, df.InterDigit)
	str(&s.Survey.Prompt, d.Survey.Prompt)
	dur(&s.Survey.Timeout, d.Survey.Timeout)
	if len(s.Survey.Digits) == 0 {
		s.Survey.Digits = d.Survey.Digits
	}
	return s
}

// Prompt names the call flow asks the Plan for. Per-topic prompts are
// PromptTopicPrefix+topic; refusals are PromptRefusedPrefix+code.
const (
	PromptUnknownNumber    = "unknown-number"
	PromptClosed           = "closed"
	PromptCallbackOffer    = "callback-offer"
	PromptCallbackConfirm  = "callback-confirm"
	PromptReturning        = "returning-caller"
	PromptOwnerCallback    = "owner-callback-offer"
	PromptPosition         = "queue-position"
	PromptWait             = "queue-wait"
	PromptMinutes          = "minutes"
	PromptTransferring     = "transferring"
	PromptTransferDeclined = "transfer-declined"
	PromptAcceptTransfer   = "accept-transfer"
	PromptOwnerWillCall    = "owner-will-call"
	PromptSeniorWillCall   = "senior-will-call"
	PromptCallbackIn       = "callback-in" // "...in about", then a number and its unit
	PromptHours            = "hours"
	PromptDays             = "days"
	PromptPaused           = "pause-after-call"
	PromptSurvey           = "survey"
	PromptThanks           = "thanks"
	PromptFeatureError     = "feature-error"
	PromptUnavailable      = "unavailable"
	PromptAgentMenu        = "agent-menu"
	PromptAgentOK          = "agent-ok"
	PromptAgentError       = "agent-error"
	PromptTopicPrefix      = "topic."
	PromptRefusedPrefix    = "refused."
)

// Digits of the agent feature number's menu.
const (
	AgentKeyLogin  = "1"
	AgentKeyPause  = "2"
	AgentKeyResume = "3"
	AgentKeyLogout = "4"
)
