package asterisksim

import (
	"strconv"
	"strings"
)

// dpApp is one priority of a simulated extension.
type dpApp struct {
	app, data string
	run       func(s *Server, c *channel) bool // false: the channel stops here
}

// extension returns the priorities that context runs for exten on c, as
// the throwaway Asterisk of scripts/e2e-asterisk.sh has them
// (deploy/asterisk/extensions_hotline.conf and
// e2e/testdata/asterisk/extensions_e2e.conf). ok is false for a context
// that does not exist.
func (s *Server) extension(context, exten string, c *channel) ([]dpApp, bool) {
	st, ok := s.dialplan[context]
	if !ok {
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
				transferHandling(c), stasis, hangupApp(34)}, true
		case "agents-ari":
			return []dpApp{
				{app: "NoOp", data: "agent " + c.snap.Caller.Number + " dials " + exten, run: next},
				transferHandling(c), stasis, hangupApp(34)}, true
		}
		return []dpApp{stasis, hangupApp(16)}, true
	case BehaviourAnswerWait:
		return []dpApp{
			{app: "Answer", data: ",i", run: func(s *Server, c *channel) bool { s.answer(c); return !c.gone }},
			{app: "Wait", data: "3600", run: stop}, hangupApp(16)}, true
	case BehaviourRinging:
		return []dpApp{
			{app: "Ringing", run: func(s *Server, c *channel) bool { s.ring(c); return !c.gone }},
			{app: "Wait", data: "3600", run: stop}, hangupApp(16)}, true
	case BehaviourBusy:
		return []dpApp{{app: "Busy", data: "10", run: func(s *Server, c *channel) bool { s.farFails(c, "BUSY", 17); return false }}}, true
	case BehaviourCongested:
		return []dpApp{{app: "Congestion", data: "10", run: func(s *Server, c *channel) bool { s.farFails(c, "CONGESTION", 34); return false }}}, true
	}
	return nil, false
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

// hangupApp is Hangup(cause), reached when Stasis() fails or returns.
func hangupApp(cause int) dpApp {
	data := ""
	if cause != 16 {
		data = strconv.Itoa(cause)
	}
	return dpApp{app: "Hangup", data: data, run: func(s *Server, c *channel) bool {
		s.hangupPair(c, cause, &hangupReq{cause: cause})
		return false
	}}
}

// runDialplan executes context's extension on c, one priority after the
// other, each published (ChannelDialplan) before it runs. A context that
// does not exist ends the pair at once with cause 0 and nothing else.
func (s *Server) runDialplan(c *channel, context, exten string) {
	apps, ok := s.extension(context, exten, c)
	c.snap.Dialplan.Context, c.snap.Dialplan.Exten = context, exten
	if !ok {
		p := c.livePeer()
		s.endChannel(c, 0, nil)
		if p != nil {
			s.endChannel(p, 0, nil)
		}
		return
	}
	c.inPBX = true
	for i, a := range apps {
		if c.gone {
			return
		}
		s.setApp(c, a.app, a.data, i+1)
		if !a.run(s, c) {
			return
		}
	}
	// Falling off the end of the extension hangs up.
	if !c.gone {
		s.hangupPair(c, 16, nil)
	}
}
