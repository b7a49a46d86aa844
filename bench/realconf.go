package bench

import (
	"embed"
	"fmt"
	"strings"
	"text/template"
	"time"
)

//go:embed asterisk/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.ParseFS(templateFS, "asterisk/*.tmpl"))

// Names in the bench's Asterisk: applications, the dialled numbers and the
// queues. Every context and queue starts with hlb-.
const (
	hotlineApp    = "hlb-hotline"
	floorApp      = "hlb-floor"
	observerApp   = "hlb-observer"
	benchNumber   = "100" // the hotline's and the floor's service number
	agentsContext = "hlb-agents"
	phoneContext  = "hlb-phone"
	// The announcement both systems play to waiting callers: the kit's
	// 3 s tone (app_queue's periodic-announce; the hotline's position
	// prompt, followed by its position and wait in numbers).
	announceSound = "hotline-tone-3s"
	waitSound     = "hotline-beep" // the kit's 0.3 s tone: the hotline's "estimated wait"
)

// queueDef is one app_queue queue of the bench.
type queueDef struct {
	Name, Exten   string
	AnnounceEvery int // periodic-announce-frequency in seconds; 0 for none
	AnnounceSound string
	Members       []string
}

// The bench's queues: the two handoff series (one agent) and capacity.
const (
	queueHandoff         = "hlb-handoff"
	queueHandoffAnnounce = "hlb-handoff-announce"
	queueCapacity        = "hlb-capacity"
)

// BenchFiles are the bench's Asterisk configuration: a dialplan and
// app_queue's queues.
type BenchFiles struct {
	Extensions string
	Queues     string
	queues     []queueDef
}

// queueExten is the extension of hlb-in-queue that enters queue name.
func (f BenchFiles) queueExten(name string) string {
	for _, q := range f.queues {
		if q.Name == name {
			return q.Exten
		}
	}
	return ""
}

// benchFiles renders the dialplan and queues for agents agents who talk
// talk, callers who give up after callerLimit, and periodic
// announcements every announce in the announcing handoff queue.
func benchFiles(agents int, talk, callerLimit, announce time.Duration) (BenchFiles, error) {
	all := make([]string, agents)
	for i := range all {
		all[i] = agentID(i)
	}
	qs := []queueDef{
		{Name: queueHandoff, Exten: "901", Members: all[:1]},
		{Name: queueHandoffAnnounce, Exten: "902", Members: all[:1],
			AnnounceEvery: int(announce.Round(time.Second) / time.Second), AnnounceSound: announceSound},
		{Name: queueCapacity, Exten: "903", Members: all},
	}
	f := BenchFiles{queues: qs}
	var b strings.Builder
	err := templates.ExecuteTemplate(&b, "extensions.conf.tmpl", map[string]any{
		"CallerLimit": int(callerLimit / time.Second), "HotlineApp": hotlineApp, "FloorApp": floorApp,
		"Queues": qs, "Talk": fmt.Sprintf("%.3f", talk.Seconds()),
	})
	if err != nil {
		return f, fmt.Errorf("render dialplan: %w", err)
	}
	f.Extensions = b.String()
	b.Reset()
	if err := templates.ExecuteTemplate(&b, "queues.conf.tmpl", map[string]any{"Queues": qs}); err != nil {
		return f, fmt.Errorf("render queues: %w", err)
	}
	f.Queues = b.String()
	return f, nil
}

// hotlineParams fill hotline.yaml.tmpl.
type hotlineParams struct {
	URL, App, User, PasswordFile string
	Redis, Listen, TokensFile    string
	Number                       string
	AnnounceEvery                string // "0s" for none
	AnnounceSound, WaitSound     string
	Agents                       []string
}

func hotlineConfig(p hotlineParams) (string, error) {
	var b strings.Builder
	if err := templates.ExecuteTemplate(&b, "hotline.yaml.tmpl", p); err != nil {
		return "", fmt.Errorf("render hotline configuration: %w", err)
	}
	return b.String(), nil
}
