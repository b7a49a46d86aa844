package doctor

import (
	"fmt"
	"strings"

	"github.com/hotline-project/hotline/ari"
	"github.com/hotline-project/hotline/dialplan"
)

// CheckAgents reports, at each agent's endpoint line, an endpoint Asterisk
// does not have (an error: the agent can never be rung) and a PJSIP
// endpoint that is not online now (a warning: no phone registered, fine
// if the agent is off). Local channels are dialplan, which ARI cannot see:
// they are skipped with a note, as are technologies Asterisk lists no
// endpoints of.
func CheckAgents(cfg *dialplan.Config, eps []ari.Endpoint) []Finding {
	byTech := map[string]map[string]ari.Endpoint{} // lower-case technology → resource → endpoint
	for _, e := range eps {
		t := strings.ToLower(e.Technology)
		if byTech[t] == nil {
			byTech[t] = map[string]ari.Endpoint{}
		}
		byTech[t][e.Resource] = e
	}
	var out []Finding
	for i, a := range cfg.Agents {
		key := dialplan.AgentPath(i, "endpoint")
		line := cfg.Line(key)
		if line == 0 {
			line = cfg.Line(dialplan.AgentPath(i, ""))
		}
		at := func(level Level, format string, args ...any) {
			msg := fmt.Sprintf("%s: agent %s: %s", key, a.ID, fmt.Sprintf(format, args...))
			out = append(out, Finding{Line: line, Level: level, Message: msg})
		}
		tech, dest, _ := strings.Cut(a.Endpoint, "/")
		t := strings.ToLower(tech)
		switch {
		case t == "local":
			at(Note, "%s is a Local channel (dialplan): ARI cannot check it, skipped", a.Endpoint)
			continue
		case byTech[t] == nil && t != "pjsip":
			at(Note, "%s: Asterisk lists no %s endpoints over ARI, so it cannot be checked; skipped", a.Endpoint, tech)
			continue
		}
		names := resources(t, dest)
		var e ari.Endpoint
		ok := false
		for _, n := range names {
			if e, ok = byTech[t][n]; ok {
				break
			}
		}
		name := names[len(names)-1]
		switch {
		case !ok:
			at(Error, "%s does not exist in Asterisk (no %s endpoint %q): add it (pjsip.conf, or AGENTS for deploy/asterisk/install.sh)", a.Endpoint, tech, name)
		case t == "pjsip" && e.State != "online":
			at(Warning, "%s is not registered now (state %s): fine if the agent is off", a.Endpoint, e.State)
		}
	}
	return out
}

// resources are the endpoints a dial string's destination may name, in
// the order Asterisk tries them. PJSIP (chan_pjsip.c request) takes "101",
// "101/sip:101@10.0.0.5" (the endpoint, then a URI) and "user@trunk":
// first the whole "user@trunk" as an endpoint name (multi-domain), then
// what follows the first "@". Other technologies are taken as far as the
// first "/".
func resources(tech, dest string) []string {
	name, _, _ := strings.Cut(dest, "/")
	if tech == "pjsip" {
		if _, after, ok := strings.Cut(name, "@"); ok {
			return []string{name, after}
		}
	}
	return []string{name}
}
