package asterisksim

import (
	"net/http"
	"strconv"
	"strings"
)

// moveHandler is POST /channels/{id}/move?app=APP&appArgs=A,B: the
// channel leaves its application for app (res_stasis.c, as recorded by
// the probe channel-move). Refused with 404 or 409 like every control
// operation; otherwise 204, and then StasisEnd goes to the old
// application (which gives up its interest in the channel) and StasisStart
// with the arguments to the new one; the channel stays where it is in
// the dialplan and in its bridge. Into the application it is in, it
// leaves and enters again. An application that is not registered (or
// "") gets nothing: the old one is told ApplicationMoveFailed.
//
// Asterisk 22.10.1 does not check that app is given and crashes on a move
// without it (strlen(NULL) in stasis_app_control_move); the simulator
// answers 400 instead.
func (s *Server) moveHandler(w http.ResponseWriter, _ *http.Request, p params, c *channel) {
	if !p.has("app") {
		writeErr(w, http.StatusBadRequest, "Missing parameter app")
		return
	}
	app := p.get("app")
	var args []string
	for _, a := range strings.Split(p.get("appArgs"), ",") {
		if a != "" {
			args = append(args, a) // strtok: empty arguments vanish
		}
	}
	if args == nil {
		args = []string{}
	}
	noContent(w)
	s.move(c, app, args)
}

func (s *Server) move(c *channel, app string, args []string) {
	old := c.stasisApp
	if !s.connected(app) {
		s.emit([]string{old}, "ApplicationMoveFailed", event{"channel": c.pub, "destination": app, "args": args})
		return
	}
	c.subs.add(old, -1)
	s.emit([]string{old}, "StasisEnd", event{"channel": c.pub})
	c.stasisApp = app
	c.subs.add(app, 1)
	s.emit([]string{app}, "StasisStart", event{"args": args, "channel": c.snap})
}

// continueHandler is POST /channels/{id}/continue?context=&extension=
// &priority=&label= (ast_ari_channels_continue_in_dialplan, as recorded by
// the probe channel-continue). After the checks every control operation
// makes (404, 409, and 412 for a channel that is Down or ringing out), the
// target: with no context, the channel's own context and its extension
// unless one is given; with a context, extension s unless one is given.
// The priority: a label (a number is a priority; 0 is 400 "Requested
// priority is illegal"; one the extension does not have is 404), else
// priority, else with neither context nor extension the priority after the
// current one (the one after Stasis()), else 1. Then 204, and the channel
// leaves Stasis (StasisEnd, STASISSTATUS=SUCCESS) and runs the dialplan
// from there; a place that does not exist ends it (cause 0).
func (s *Server) continueHandler(w http.ResponseWriter, _ *http.Request, p params, c *channel) {
	cur := c.snap.Dialplan
	context, exten := p.get("context"), p.get("extension")
	switch {
	case context == "":
		context = cur.Context
		if exten == "" {
			exten = cur.Exten
		}
	case exten == "":
		exten = "s"
	}
	var prio int
	switch label := p.get("label"); {
	case label != "":
		n, ok := leadingInt(label)
		if !ok {
			n = s.findLabel(context, exten, label)
			if n == -1 {
				writeErr(w, http.StatusNotFound, "Requested label can not be found")
				return
			}
		}
		if n == 0 {
			writeErr(w, http.StatusBadRequest, "Requested priority is illegal")
			return
		}
		prio = n
	case atoi(p.get("priority")) != 0:
		prio = atoi(p.get("priority"))
	case p.get("context") == "" && p.get("extension") == "":
		prio = cur.Priority + 1
	default:
		prio = 1
	}
	if prio < 0 {
		// stasis_app_control_continue keeps the priority it has.
		prio = cur.Priority + 1
	}
	noContent(w)
	s.continueIn(c, context, exten, prio)
}

// continueIn takes c out of Stasis into the dialplan at context, exten,
// priority. A channel that runs no dialplan (an originated half, a
// created channel, a snoop) only leaves Stasis: what Asterisk does next
// with it is not simulated.
func (s *Server) continueIn(c *channel, context, exten string, priority int) {
	if c.bridge != nil {
		// app_control_continue departs the bridge first.
		s.leaveBridge(c, leftByRemoval)
	}
	same := context == c.snap.Dialplan.Context && exten == c.snap.Dialplan.Exten
	s.endStasis(c)
	if !c.inPBX || c.gone {
		return
	}
	if same {
		s.runDialplanAt(c, context, exten, priority)
		return
	}
	s.gotoDialplan(c, context, exten, priority)
}

// leadingInt reads a number the way sscanf("%30d") does: optional spaces
// and sign, then digits; ok is false when there are none.
func leadingInt(v string) (int, bool) {
	v = strings.TrimLeft(v, " \t\n")
	end := 0
	if end < len(v) && (v[end] == '-' || v[end] == '+') {
		end++
	}
	start := end
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	if end == start {
		return 0, false
	}
	n, err := strconv.Atoi(v[:end])
	if err != nil {
		return 0, false
	}
	return n, true
}

// atoi is C's atoi: the leading number, 0 if none.
func atoi(v string) int {
	n, _ := leadingInt(v)
	return n
}
