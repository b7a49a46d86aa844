// Package doctor compares a hotline configuration with the Asterisk it
// names, for `hotline check --ari`: the sounds the daemon plays in each
// language (and the digits numbers are said with), the agents' endpoints,
// the Asterisk version and modules the hotline needs, the ARI user and the
// events websocket.
//
// The checks are pure functions from what ARI returned and the
// configuration to findings (CheckSounds, CheckAgents, CheckVersion,
// CheckModules); Run makes the ARI calls, each under the client's request
// timeout, and puts the findings together. Every call is read-only: the
// events websocket is opened under a random application name of its own,
// never the daemon's, which a second connection would replace.
package doctor

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hotline-project/hotline/ari"
	"github.com/hotline-project/hotline/dialplan"
)

// Level says how much a finding matters.
type Level int

// Levels. Only errors make `hotline check --ari` fail.
const (
	// Error: the hotline will not work as configured (a sound that cannot
	// play, an agent that cannot be dialled, Asterisk too old).
	Error Level = iota
	// Warning: it works, not as well as it should (English prompts for
	// Ukrainian callers, an agent's phone not registered now), or a check
	// could not be made.
	Warning
	// Note: information (the daemon is connected now, what was skipped).
	Note
)

// Finding is one result of the doctor, at the line of the configuration
// key it is about when there is one.
type Finding struct {
	File    string
	Line    int // 0: no key in the file (a default, or about Asterisk as a whole)
	Level   Level
	Message string
}

// String formats a finding as `hotline check` formats problems, so
// editors can jump to it: "FILE:LINE: message", "FILE:LINE: warning:
// message" or "FILE:LINE: note: message".
func (f Finding) String() string {
	p := dialplan.Problem{File: f.File, Line: f.Line, Message: f.Message, Warning: f.Level == Warning}
	if f.Level == Note {
		p.Message = "note: " + f.Message
	}
	return p.String()
}

// Report is everything one run found.
type Report struct {
	File     string // the configuration file
	URL      string // ari.url
	Version  string // Asterisk's; empty when it could not be reached
	Findings []Finding
}

// Count returns how many findings have level l.
func (r Report) Count(l Level) int {
	n := 0
	for _, f := range r.Findings {
		if f.Level == l {
			n++
		}
	}
	return n
}

// Summary is the report's last line: "hotline.yaml: Asterisk 22.10.1 at
// http://127.0.0.1:8088/ari: 2 errors, 1 warning".
func (r Report) Summary() string {
	who := "Asterisk"
	if r.Version != "" {
		who += " " + r.Version
	}
	if r.URL != "" {
		who += " at " + r.URL
	}
	if r.Version == "" {
		who += " (not reached)"
	}
	errs, warns := r.Count(Error), r.Count(Warning)
	verdict := plural(errs, "error") + ", " + plural(warns, "warning")
	if errs == 0 && warns == 0 {
		verdict = "no problems"
	}
	return fmt.Sprintf("%s: %s: %s", r.File, who, verdict)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Asterisk is what the doctor asks Asterisk; *ari.Client has it.
type Asterisk interface {
	Info(ctx context.Context) (ari.AsteriskInfo, error)
	Modules(ctx context.Context) ([]ari.Module, error)
	Sounds(ctx context.Context) ([]ari.Sound, error)
	Endpoints(ctx context.Context) ([]ari.Endpoint, error)
	Applications(ctx context.Context) ([]ari.Application, error)
	ProbeEvents(ctx context.Context, app string) error
}

var _ Asterisk = (*ari.Client)(nil)

// Options are what Run checks besides the configuration.
type Options struct {
	// Sounds are the sound names the daemon may play (app.Sounds).
	Sounds []string
	// ProbeApplication is the application name the events websocket is
	// opened under; empty picks a random "hotline-doctor-…". It must not be
	// the configured application.
	ProbeApplication string
}

// Run asks Asterisk what it has and compares it with cfg. When Asterisk
// cannot be reached or refuses the ARI user, that is the one finding: the
// rest would only repeat it. Otherwise every check runs even if another
// could not be made (that one is reported as a warning).
func Run(ctx context.Context, a Asterisk, cfg *dialplan.Config, opts Options) Report {
	rep := Report{File: cfg.File, URL: cfg.ARI.URL}
	add := func(fs ...Finding) {
		for _, f := range fs {
			f.File = cfg.File
			rep.Findings = append(rep.Findings, f)
		}
	}
	info, err := a.Info(ctx)
	if err != nil {
		add(unreachable(cfg, err))
		return rep
	}
	rep.Version = info.Version
	add(CheckVersion(info.Version)...)

	if mods, err := a.Modules(ctx); err != nil {
		add(notChecked(0, "modules", err, `asterisk -rx "module show like pjsip"`))
	} else {
		add(CheckModules(mods)...)
	}

	app := opts.ProbeApplication
	if app == "" {
		app = randomApplication()
	}
	add(probe(ctx, a, cfg, app)...)

	if apps, err := a.Applications(ctx); err != nil {
		add(notChecked(cfg.Line("ari.application"), "whether the application is connected", err, `asterisk -rx "ari show apps"`))
	} else {
		add(CheckApplication(cfg, apps)...)
	}

	if sounds, err := a.Sounds(ctx); err != nil {
		add(notChecked(0, "sounds", err, `asterisk -rx "core show sounds"`))
	} else {
		add(CheckSounds(cfg, opts.Sounds, sounds)...)
	}

	if eps, err := a.Endpoints(ctx); err != nil {
		add(notChecked(0, "agents' endpoints", err, `asterisk -rx "pjsip show endpoints"`))
	} else {
		add(CheckAgents(cfg, eps)...)
	}

	add(Finding{Level: Note, Message: fmt.Sprintf(
		"dialplan not checked (ARI cannot read it): check by hand that service numbers reach Stasis(%s,NUMBER) and agents' phones Stasis(%s,agent,EXTEN): asterisk -rx \"dialplan show hotline\"",
		cfg.ARI.Application, cfg.ARI.Application)})
	return rep
}

// randomApplication names the probe's application so that it meets no
// other: a second websocket under a name in use would replace that one.
func randomApplication() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return "hotline-doctor-" + hex.EncodeToString(b)
}

// unreachable explains why the first request failed.
func unreachable(cfg *dialplan.Config, err error) Finding {
	urlLine := cfg.Line("ari.url")
	var herr *ari.HTTPError
	switch {
	case errors.As(err, &herr) && herr.Status == 401:
		return Finding{Line: credentialsLine(cfg), Message: fmt.Sprintf("ARI user %q rejected: check ari.conf and %s", cfg.ARI.Username, passwordSource(cfg.ARI.Password))}
	case errors.As(err, &herr) && herr.Status == 404:
		return Finding{Line: urlLine, Message: fmt.Sprintf("ari.url: %s answered 404: not ARI's base URL (it ends in /ari), or ARI is disabled (ari.conf: enabled = yes)", cfg.ARI.URL)}
	case errors.As(err, &herr):
		return Finding{Line: urlLine, Message: fmt.Sprintf("ari.url: ARI at %s refused the request: %v", cfg.ARI.URL, err)}
	case errors.Is(err, context.DeadlineExceeded):
		return Finding{Line: urlLine, Message: fmt.Sprintf("ari.url: no answer from ARI at %s within %s (ari.request_timeout)", cfg.ARI.URL, cfg.ARI.RequestTimeout)}
	}
	return Finding{Line: urlLine, Message: fmt.Sprintf("ari.url: cannot reach ARI at %s: %v", cfg.ARI.URL, err)}
}

// credentialsLine is where a rejected user is most likely fixed: the
// password's key, else the username's.
func credentialsLine(cfg *dialplan.Config) int {
	for _, k := range []string{"ari.password_file", "ari.password_env", "ari.username"} {
		if l := cfg.Line(k); l > 0 {
			return l
		}
	}
	return 0
}

// passwordSource names where the password came from, never the password.
func passwordSource(r dialplan.SecretRef) string {
	switch {
	case r.File != "":
		return "the password file " + r.File
	case r.Env != "":
		return "the password in $" + r.Env
	}
	return "the password (none configured: set ari.password_file or ari.password_env)"
}

func notChecked(line int, what string, err error, byHand string) Finding {
	return Finding{Line: line, Level: Warning, Message: fmt.Sprintf("%s not checked: %v; check by hand: %s", what, err, byHand)}
}

// probe opens and closes the events websocket under app.
func probe(ctx context.Context, a Asterisk, cfg *dialplan.Config, app string) []Finding {
	if app == cfg.ARI.Application {
		// Never: the daemon's connection would be replaced.
		return []Finding{{Level: Warning, Message: "events websocket not checked: the probe's application name is the configured one"}}
	}
	err := a.ProbeEvents(ctx, app)
	if err == nil {
		return nil
	}
	line, key := cfg.Line("ari.websocket_url"), "ari.websocket_url"
	if line == 0 {
		line, key = cfg.Line("ari.url"), "ari.url"
	}
	var herr *ari.HTTPError
	switch {
	case errors.As(err, &herr) && herr.Status == 401:
		return []Finding{{Line: credentialsLine(cfg), Message: fmt.Sprintf("ARI user %q rejected by the events websocket: check ari.conf and %s", cfg.ARI.Username, passwordSource(cfg.ARI.Password))}}
	case errors.Is(err, ari.ErrUncleanClose):
		return []Finding{{Line: line, Level: Warning, Message: fmt.Sprintf("%s: the events websocket %s opened, but did not close cleanly (%v)", key, cfg.ARI.WebsocketURL, err)}}
	}
	return []Finding{{Line: line, Message: fmt.Sprintf("%s: the events websocket %s failed (%v): the daemon would receive no calls; check %s, http.conf and that res_http_websocket.so is loaded",
		key, cfg.ARI.WebsocketURL, err, key)}}
}

// CheckApplication says whether the configured application is connected
// now: a running daemon. Either way it is a note.
func CheckApplication(cfg *dialplan.Config, apps []ari.Application) []Finding {
	name := cfg.ARI.Application
	line := cfg.Line("ari.application")
	for _, a := range apps {
		if a.Name == name {
			return []Finding{{Line: line, Level: Note, Message: fmt.Sprintf("application %s is connected now (a hotline daemon is running against this Asterisk, %s)", name, plural(len(a.ChannelIDs), "channel"))}}
		}
	}
	return []Finding{{Line: line, Level: Note, Message: fmt.Sprintf("application %s is not connected now: calls reaching Stasis(%s) fail until the daemon runs", name, name)}}
}

// sortFindings orders findings by line, keeping the order of those on the
// same line (and of those without one) as found.
func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int { return cmp.Compare(a.Line, b.Line) })
}

// list joins names for a message: "uk, pl".
func list(names []string) string { return strings.Join(names, ", ") }
