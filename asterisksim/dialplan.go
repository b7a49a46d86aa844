package asterisksim

import (
	"strconv"
	"strings"
	"time"
)

// dpApp is one priority of a simulated extension.
type dpApp struct {
	app, data string
	// run executes the priority; false: the channel does not go on to the
	// next one (it stays in the application, went elsewhere, or is gone).
	run func(s *Server, c *channel) bool
}

// dpWait is a dialplan application a channel waits in (Playback(),
// Dial()): a timer, and what the application does when the channel is
// hung up while in it.
type dpWait struct {
	timer  *time.Timer
	hangup func()
}

func (w *dpWait) stop() {
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
}

// fallbackContext is the deployment's [hotline-fallback].
const fallbackContext = "hotline-fallback"

// extension returns the priorities that context runs for exten on c, as
// the throwaway Asterisk of scripts/e2e-asterisk.sh has them
// (deploy/asterisk/extensions_hotline.conf and
// e2e/testdata/asterisk/extensions_e2e.conf). ok is false for a context
// that does not exist. The data of each priority is what Asterisk shows
// once its variables are substituted, as they are when the list is made.
func (s *Server) extension(context, exten string, c *channel) ([]dpApp, bool) {
	st, ok := s.dialplan[context]
	if !ok {
		if context == fallbackContext && s.dialplan["hotline"].deployed == "hotline" {
			return s.fallbackExtension(c), true
		}
		return nil, false
	}
	switch st.kind {
	case kindStasis:
		args := st.stasisArgs(exten)
		stasis := dpApp{app: "Stasis", data: strings.Join(append([]string{st.app}, args...), ","),
			run: func(s *Server, c *channel) bool { return !s.enterStasis(c, st.app, args) }}
		switch st.deployed {
		case "hotline":
			return []dpApp{
				{app: "NoOp", data: "hotline call to " + exten + " from " + c.snap.Caller.Number, run: next},
				transferHandling(c), stasis,
				{app: "Goto", data: fallbackContext + ",s,1", run: func(s *Server, c *channel) bool {
					s.gotoDialplan(c, fallbackContext, "s", 1)
					return false
				}}}, true
		case "agents-ari":
			return []dpApp{
				{app: "NoOp", data: "agent " + c.snap.Caller.Number + " dials " + exten, run: next},
				transferHandling(c), stasis, hangupApp(34)}, true
		}
		return []dpApp{stasis, hangupApp(0)}, true
	case BehaviourAnswerWait:
		return []dpApp{
			{app: "Answer", data: ",i", run: func(s *Server, c *channel) bool { s.answer(c); return !c.gone }},
			{app: "Wait", data: "3600", run: stop}, hangupApp(0)}, true
	case BehaviourRinging:
		return []dpApp{
			{app: "Ringing", run: func(s *Server, c *channel) bool { s.ring(c); return !c.gone }},
			{app: "Wait", data: "3600", run: stop}, hangupApp(0)}, true
	case BehaviourBusy:
		return []dpApp{{app: "Busy", data: "10", run: func(s *Server, c *channel) bool { s.farFails(c, "BUSY", 17); return false }}}, true
	case BehaviourCongested:
		return []dpApp{{app: "Congestion", data: "10", run: func(s *Server, c *channel) bool { s.farFails(c, "CONGESTION", 34); return false }}}, true
	}
	return nil, false
}

// fallbackExtension is [hotline-fallback]'s s extension:
//
//	s,1,NoOp(hotline fallback: ${IF($["${HOTLINE_RESULT}" = ""]?Stasis ${STASISSTATUS}:${HOTLINE_RESULT})})
//	n,Set(FALLBACK=...)
//	n,GotoIf($["${FALLBACK}" = ""]?unavailable)
//	n,Dial(${FALLBACK},30)
//	n(unavailable),Answer()
//	n,Playback(hotline-unavailable)
//	n,Hangup()
func (s *Server) fallbackExtension(c *channel) []dpApp {
	why := c.vars["HOTLINE_RESULT"]
	if why == "" {
		why = "Stasis " + c.vars["STASISSTATUS"]
	}
	fb := s.fallback
	none := "0"
	if fb == "" {
		none = "1"
	}
	ring := s.fallbackRing
	secs := int((ring + time.Second - 1) / time.Second)
	return []dpApp{
		{app: "NoOp", data: "hotline fallback: " + why, run: next},
		{app: "Set", data: "FALLBACK=" + fb, run: func(s *Server, c *channel) bool {
			s.varset(c, "FALLBACK", fb)
			return true
		}},
		{app: "GotoIf", data: none + "?unavailable", run: func(s *Server, c *channel) bool {
			if fb != "" {
				return true
			}
			s.runDialplanAt(c, fallbackContext, "s", fallbackUnavailable)
			return false
		}},
		{app: "Dial", data: fb + "," + strconv.Itoa(secs), run: func(s *Server, c *channel) bool {
			return s.dialApp(c, fb, ring)
		}},
		{app: "Answer", run: func(s *Server, c *channel) bool { s.answer(c); return !c.gone }},
		{app: "Playback", data: "hotline-unavailable", run: func(s *Server, c *channel) bool {
			return s.playbackApp(c, "hotline-unavailable")
		}},
		hangupApp(0),
	}
}

// fallbackUnavailable is the priority of [hotline-fallback]'s label
// "unavailable".
const fallbackUnavailable = 5

// findLabel is the priority of label in context's exten, or -1.
func (s *Server) findLabel(context, exten, label string) int {
	if context == fallbackContext && label == "unavailable" && s.extenExists(context, exten) {
		return fallbackUnavailable
	}
	return -1
}

// extenExists reports whether context has exten: "s" in
// [hotline-fallback], the pattern _X. everywhere else.
func (s *Server) extenExists(context, exten string) bool {
	if _, ok := s.dialplan[context]; !ok {
		return context == fallbackContext && exten == "s" && s.dialplan["hotline"].deployed == "hotline"
	}
	return len(exten) >= 2 && exten[0] >= '0' && exten[0] <= '9'
}

func next(*Server, *channel) bool { return true }
func stop(*Server, *channel) bool { return false }

// transferHandling is the deployment's
// ExecIf($["${CHANNEL(channeltype)}" = "PJSIP"]?Set(PJSIP_TRANSFER_HANDLING()=ari-only)).
func transferHandling(c *channel) dpApp {
	cond := "0"
	if c.kind == kindPJSIP {
		cond = "1"
	}
	return dpApp{app: "ExecIf", data: cond + "?Set(PJSIP_TRANSFER_HANDLING()=ari-only)", run: func(s *Server, c *channel) bool {
		if c.kind == kindPJSIP {
			s.setVar(c, "PJSIP_TRANSFER_HANDLING()", "ari-only", false)
		}
		return true
	}}
}

// hangupApp is Hangup(cause); Hangup() (cause 0) keeps the cause a Dial()
// left on the channel, or is 16. Only the end of the dialplan is told (a
// soft hangup request, cause 16); the other half of a pair hears the cause.
func hangupApp(cause int) dpApp {
	data := ""
	if cause != 0 {
		data = strconv.Itoa(cause)
	}
	return dpApp{app: "Hangup", data: data, run: func(s *Server, c *channel) bool {
		n := cause
		if n == 0 {
			n = c.dpCause
		}
		if n == 0 {
			n = 16
		}
		s.hangupPair(c, n, nil)
		return false
	}}
}

// playbackApp is the dialplan's Playback(sound): PLAYBACKSTATUS once it
// played (or was cut short by a hangup: still SUCCESS, as recorded), or
// FAILED at once for a sound that does not exist.
func (s *Server) playbackApp(c *channel, sound string) bool {
	media := "sound:" + sound
	if s.mediaOutcome(media) == mediaMissing {
		s.varset(c, "PLAYBACKSTATUS", "FAILED")
		return true
	}
	w := &dpWait{}
	w.hangup = func() { s.varset(c, "PLAYBACKSTATUS", "SUCCESS") }
	w.timer = time.AfterFunc(s.duration(media), func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed || c.gone || c.dpWait != w {
			return
		}
		c.dpWait = nil
		s.varset(c, "PLAYBACKSTATUS", "SUCCESS")
		s.resume(c)
	})
	c.dpWait = w
	return false
}

// runDialplan executes context's extension on c from priority 1. A context
// that does not exist ends the pair at once with cause 0 and nothing else
// (what Local's far half does when it is dialled).
func (s *Server) runDialplan(c *channel, context, exten string) {
	apps, ok := s.extension(context, exten, c)
	if !ok {
		c.snap.Dialplan.Context, c.snap.Dialplan.Exten = context, exten
		p := c.livePeer()
		s.endChannel(c, 0, nil)
		if p != nil {
			s.endChannel(p, 0, nil)
		}
		return
	}
	s.runApps(c, context, exten, apps, 1)
}

// gotoDialplan sends c to context,exten,priority (Goto(), or a continue
// from Stasis()), where the extension must exist.
func (s *Server) gotoDialplan(c *channel, context, exten string, priority int) {
	if !s.extenExists(context, exten) {
		s.deadEnd(c, context, exten, priority)
		return
	}
	s.runDialplanAt(c, context, exten, priority)
}

// resume goes on at the priority after the one c is in.
func (s *Server) resume(c *channel) {
	dp := c.snap.Dialplan
	s.runDialplanAt(c, dp.Context, dp.Exten, dp.Priority+1)
}

// runDialplanAt executes context's extension on c from priority on, one
// priority after the other, each published (ChannelDialplan) before it
// runs.
func (s *Server) runDialplanAt(c *channel, context, exten string, priority int) {
	apps, ok := s.extension(context, exten, c)
	if !ok {
		s.deadEnd(c, context, exten, priority)
		return
	}
	s.runApps(c, context, exten, apps, priority)
}

// runApps runs apps, context's extension exten, on c from priority on.
func (s *Server) runApps(c *channel, context, exten string, apps []dpApp, priority int) {
	if priority < 1 || priority > len(apps) {
		s.deadEnd(c, context, exten, priority)
		return
	}
	c.snap.Dialplan.Context, c.snap.Dialplan.Exten = context, exten
	c.inPBX = true
	for i := priority - 1; i < len(apps); i++ {
		if c.gone {
			return
		}
		a := apps[i]
		s.setApp(c, a.app, a.data, i+1)
		if !a.run(s, c) {
			return
		}
	}
	// Falling off the end of the extension is a priority that does not
	// exist.
	s.deadEnd(c, context, exten, len(apps)+1)
}

// deadEnd is a channel sent where the dialplan has nothing (a context,
// extension or priority that does not exist): the PBX ends, with no
// ChannelDialplan; its destruction shows the place, with cause 0 unless
// a Dial() left one.
func (s *Server) deadEnd(c *channel, context, exten string, priority int) {
	c.snap.Dialplan = dialplanJSON{Context: context, Exten: exten, Priority: priority}
	s.hangupPair(c, c.dpCause, nil)
}
