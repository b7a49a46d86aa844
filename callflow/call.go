package callflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// call is the state of one call. Every field except keys (guarded by the
// engine's mu) is touched only by the call's own goroutine.
type call struct {
	e      *Engine
	id     string
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelCauseFunc
	mb     *mailbox
	keys   []string
	// overflowed is set by the poster that found the mailbox full.
	overflowed atomic.Bool
	// ended is closed when the call stops reading its mailbox, so an API
	// request waiting on a command learns that the call is gone.
	ended chan struct{}

	caller   string // caller channel id; empty until a called-back caller answers
	callerUp bool
	// answering is the caller's answer while it is in flight: a direct
	// topic's agent is dialled meanwhile (see inbound, answered).
	answering *answer
	number    string
	lang      string
	topic     string

	kase       caseFacts
	phase      phase
	talkStart  time.Time
	direct     *Offer // the case owner claimed for a returning caller
	enqueuedAt time.Time

	agentLeg string // the agent on the call now (withAgent, consulting)
	agentID  string
	bridge   string
	cb       *Callback            // the callback being dialled; nil for a caller's call
	legs     map[string]bool      // channels we originated that are still up
	playing  map[string]*playback // by playback id
	bridged  map[string]bool      // channels Asterisk reports in the call's bridge
	moh      bool                 // music on hold on the caller
	draining bool
}

func (e *Engine) newCall(id string, log *slog.Logger) *call {
	ctx, cancel := context.WithCancelCause(e.base)
	return &call{
		e: e, id: id, log: log, ctx: ctx, cancel: cancel,
		mb: newMailbox(e.mbSize), ended: make(chan struct{}),
		legs: map[string]bool{}, playing: map[string]*playback{}, bridged: map[string]bool{},
	}
}

// startInbound takes a channel that entered the application on a service
// number (args [number]).
func (e *Engine) startInbound(ev Event) {
	ch := Channel{ID: ev.Channel, Name: ev.Name, Language: ev.Language, CallerNumber: ev.CallerNumber}
	log := e.log.With(logCall, ch.ID, logChannel, ch.Name)
	if e.agentPhoneCall(ev) {
		// An agent's own phone ([agents-ari]: Stasis(hotline,agent,EXTEN))
		// reaches the agent feature menu whatever it dialled.
		c := e.newCall(ch.ID, log)
		c.caller, c.callerUp, c.number, c.lang = ch.ID, true, ch.CallerNumber, ch.Language
		c.keys = []string{ch.ID}
		ext := ev.Args[1]
		if !e.register(c, func() { c.finish(c.agentPhone(ext)) }) {
			e.background(func(ctx context.Context) { e.hangup(ctx, ch.ID, HangupCongestion) })
		}
		return
	}
	if len(ev.Args) == 0 || ev.Args[0] == "agent" || ev.Args[0] == "callee" || ev.Args[0] == "snoop" || ev.Args[0] == "adopt" {
		// A leg of ours whose call is already over, or an entry with
		// nothing to route on: nobody owns it, so it must not stay up.
		log.Warn("unowned channel entered the application", "args", ev.Args)
		e.background(func(ctx context.Context) { e.hangup(ctx, ch.ID, HangupNormal) })
		return
	}
	if e.storeDown() {
		// Not answered: the dialplan's fallback takes the call.
		log.Info("store down: call handed back to the dialplan unanswered")
		e.background(func(ctx context.Context) {
			if err := e.handBack(ctx, ch.ID); err != nil && !errors.Is(err, routing.ErrCallGone) {
				log.Warn("hand call back", logErr, err)
				e.hangup(ctx, ch.ID, HangupCongestion)
			}
		})
		return
	}
	c := e.newCall(ch.ID, log)
	c.caller, c.callerUp, c.number, c.lang = ch.ID, true, ch.CallerNumber, ch.Language
	c.keys = []string{ch.ID}
	number := ev.Args[0]
	if !e.register(c, func() { c.finish(c.inbound(number)) }) {
		log.Info("refusing call: node is stopping")
		e.background(func(ctx context.Context) { e.hangup(ctx, ch.ID, HangupCongestion) })
	}
}

// agentPhoneCall reports whether a StasisStart is an agent dialling from
// their own phone: args ["agent", exten] (our agent legs carry three), a
// channel that is not one of ours, and a caller number that names a
// configured agent.
func (e *Engine) agentPhoneCall(ev Event) bool {
	if len(ev.Args) != 2 || ev.Args[0] != "agent" {
		return false
	}
	if _, _, ours := e.parseID(ev.Channel); ours {
		return false
	}
	_, ok := e.plan.AgentFor(ev.CallerNumber)
	return ok
}

// agentPhone is the flow of an agent's own phone call: the feature menu.
func (c *call) agentPhone(exten string) error {
	if err := c.e.tel.Answer(c.ctx, c.caller); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	c.log.Info("agent feature call", "exten", exten)
	return c.agentFeature()
}

func (e *Engine) hangup(ctx context.Context, id string, cause HangupCause) {
	if err := e.tel.Hangup(ctx, id, cause); err != nil && !errors.Is(err, routing.ErrCallGone) {
		e.log.Warn("hang up", logChannel, id, logErr, err)
	}
}

// next returns the next message of the call. timeout fires when t (may be
// nil) does. The caller's hang-up ends every phase: it is returned as
// errCallerGone, now and on every later call. API commands are answered
// here: this phase takes none.
func (c *call) next(t Timer) (m message, timeout bool, err error) {
	return c.receive(t, false)
}

// nextOrCommand is next for the phases that run API commands (the
// conversation and its consults): a command from the connected agent is
// returned as m.cmd.
func (c *call) nextOrCommand(t Timer) (m message, timeout bool, err error) {
	return c.receive(t, true)
}

func (c *call) receive(t Timer, commands bool) (m message, timeout bool, err error) {
	var tc <-chan time.Time
	if t != nil {
		tc = t.C()
	}
	for {
		if c.caller != "" && !c.callerUp {
			return message{}, false, errCallerGone
		}
		if m, ok := c.mb.pop(); ok {
			if m.drain {
				c.draining = true
				return m, false, nil
			}
			if m.cmd != nil {
				if c.screen(m.cmd, commands) {
					return m, false, nil
				}
				continue
			}
			if ev := m.ev; ev != nil {
				if ev.Playback != "" {
					if c.playbackEvent(ev) {
						continue // a playback's start: nothing waits for it
					}
				}
				c.trackBridge(ev)
				if gone(ev) {
					id := ev.Channel
					if id == c.caller && c.caller != "" {
						c.callerUp = false
						return m, false, errCallerGone
					}
					delete(c.legs, id)
				}
			}
			return m, false, nil
		}
		select {
		case <-c.mb.notify:
		case <-tc:
			return message{}, true, nil
		case <-c.ctx.Done():
			return message{}, false, context.Cause(c.ctx)
		}
	}
}

// gone reports whether ev says its channel is no longer ours.
func gone(ev *Event) bool {
	switch ev.Kind {
	case Left, HangupRequested, Destroyed:
		return ev.Channel != ""
	}
	return false
}

// goneOn reports whether m says channel ch is no longer ours.
func goneOn(m message, ch string) bool {
	return ch != "" && m.ev != nil && gone(m.ev) && m.ev.Channel == ch
}

// phoneNumber reports whether a caller number is a phone number: digits
// with an optional leading +.
func phoneNumber(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return false
	}
	return isDigits(s)
}

// dtmfOn returns the digit of a DTMF event received on channel ch. On a
// Local pair a digit sent on one half is received on the other, so the
// channel in Stasis is where a phone's digits arrive.
func dtmfOn(m message, ch string) (string, bool) {
	if !on(m, DigitPressed, ch) {
		return "", false
	}
	return m.ev.Digit, true
}

// on reports whether m is an event of kind k on channel ch.
func on(m message, k EventKind, ch string) bool {
	return ch != "" && m.ev != nil && m.ev.Kind == k && m.ev.Channel == ch
}

// finished reports whether m ends playback id.
func finished(m message, id string) bool {
	return id != "" && m.ev != nil && m.ev.Kind == PlaybackFinished && m.ev.Playback == id
}

// dialFailed reports whether the dial of channel ch gave up (an outcome
// other than an answer).
func dialFailed(m message, ch string) (DialOutcome, bool) {
	if !on(m, Dialled, ch) || m.ev.Dial == DialAnswered {
		return 0, false
	}
	return m.ev.Dial, true
}

func nonEmpty(media ...string) []string {
	out := media[:0:0]
	for _, m := range media {
		if m != "" {
			out = append(out, m)
		}
	}
	return out
}

// prompts resolves prompt names in a language.
func (c *call) prompts(lang string, names ...string) []string {
	media := make([]string, 0, len(names))
	for _, n := range names {
		media = append(media, c.e.plan.Prompt(n, lang))
	}
	return nonEmpty(media...)
}

// playback is one of the call's playbacks in progress. Its watchdog
// goroutine posts a failed PlaybackFinished when Asterisk misses a bound;
// done (closed when the playback ends, for whatever reason) ends it.
type playback struct {
	ch      string // who hears it
	snoop   string // the whisper channel it plays on, if ch is bridged
	media   []string
	started chan struct{}
	done    chan struct{}
}

// play starts media on a channel and returns the playback id, or "" when
// there was nothing to play or the channel is gone.
//
// A channel in the conversation bridge is whispered to instead, through a
// snoop channel of its own. Asterisk plays to a bridged channel through
// the bridge, and waits for that playback with the channel's Stasis
// thread: if the channel leaves the bridge meanwhile (the other party
// hangs up, the agent presses a code and puts the phone down), the thread
// stays blocked for 10 minutes — no events, not even the hang-up. A
// snoop channel is in no bridge; it goes with the channel it whispers to.
func (c *call) play(ch string, media []string, lang string) string {
	if len(media) == 0 || ch == "" {
		return ""
	}
	if ch == c.caller && c.answered() != nil {
		return ""
	}
	target, snoop := ch, ""
	if c.bridged[ch] {
		if snoop = c.whisperChannel(ch); snoop != "" {
			target = snoop
		}
	}
	id := c.e.newID("pb", c.id)
	c.e.own(c, id, false)
	if err := c.e.tel.Play(c.ctx, target, id, media, lang); err != nil {
		if !errors.Is(err, routing.ErrCallGone) {
			c.log.Warn("play", logChannel, ch, "media", media, logErr, err)
		}
		c.hangupSnoop(snoop)
		return ""
	}
	pb := &playback{ch: ch, snoop: snoop, media: media, started: make(chan struct{}), done: make(chan struct{})}
	c.playing[id] = pb
	go c.watch(id, pb)
	return id
}

// whisperChannel makes a channel whispering into ch and waits until it
// is in the application (a play before that is refused); "" if that
// fails, and the caller plays to ch itself.
func (c *call) whisperChannel(ch string) string {
	id := c.e.newID("snoop", c.id)
	c.e.own(c, id, true)
	if err := c.e.tel.Whisper(c.ctx, ch, id, c.e.app, []string{"snoop", c.id}); err != nil {
		if !errors.Is(err, routing.ErrCallGone) {
			c.log.Warn("whisper channel", logChannel, ch, logErr, err)
		}
		return ""
	}
	started := func(m message) bool { return on(m, Entered, id) }
	ended := func(m message) bool { return goneOn(m, id) || goneOn(m, ch) }
	if _, ok, _ := c.await(started, ended, c.e.settleT); !ok {
		c.hangupSnoop(id)
		return ""
	}
	return id
}

// hangupSnoop ends a whisper channel (its playback is over).
func (c *call) hangupSnoop(id string) {
	if id == "" {
		return
	}
	ctx, cancel := c.cleanupCtx()
	defer cancel()
	c.e.hangup(ctx, id, HangupNormal)
}

// watch is a playback's watchdog; it never touches the call's state, it
// only posts to its mailbox. Its bounds are on Asterisk, like a REST
// request's timeout, so they are wall-clock time, not the call flow's.
func (c *call) watch(id string, pb *playback) {
	failed := func() {
		c.e.post(c, message{ev: &Event{Kind: PlaybackFinished, Playback: id, Failed: true, Reason: "no playback events within bounds"}})
	}
	t := time.NewTimer(c.e.pbStart)
	select {
	case <-pb.started:
		t.Stop()
	case <-pb.done:
		t.Stop()
		return
	case <-t.C:
		failed()
		return
	}
	t = time.NewTimer(c.e.pbLimit)
	defer t.Stop()
	select {
	case <-pb.done:
	case <-t.C:
		failed()
	}
}

// playbackEvent keeps the call's playbacks up to date with an event about
// one of them. It reports whether the event is only of interest here (a
// start), so the phases never see it.
func (c *call) playbackEvent(ev *Event) (consumed bool) {
	pb, ok := c.playing[ev.Playback]
	switch ev.Kind {
	case PlaybackStarted:
		if ok {
			select {
			case <-pb.started:
			default:
				close(pb.started)
			}
		}
		return true
	case PlaybackFinished:
		if !ok {
			return false
		}
		c.endPlayback(ev.Playback)
		if ev.Failed {
			c.e.playbackFailed(c.log, pb.media, ev)
		}
	}
	return false
}

// endPlayback forgets a playback, ends its watchdog and its whisper
// channel.
func (c *call) endPlayback(id string) {
	if pb, ok := c.playing[id]; ok {
		close(pb.done)
		delete(c.playing, id)
		c.hangupSnoop(pb.snoop)
	}
}

// trackBridge keeps c.bridged up to date with a bridge event.
func (c *call) trackBridge(ev *Event) {
	switch ev.Kind {
	case JoinedBridge:
		c.bridged[ev.Channel] = true
	case LeftBridge:
		delete(c.bridged, ev.Channel)
	}
}

// settle waits until Asterisk reports ch in a bridge of ours (in) or out
// of it, within the engine's SettleLimit. Asterisk runs a channel's
// playback on its bridge while it is in one: a play queued as the channel
// joins is lost (201 and no event), and one queued as it leaves blocks the
// channel's Stasis thread for up to 10 minutes — no event, not even its
// hang-up (res_stasis_playback's play_uri waits on the bridge channel it
// found, which no longer runs). So a channel just moved into or out of
// the bridge is played to only once the move is done. Only the move's
// event is taken from the mailbox; everything else stays for the phase,
// in order, and ch's hang-up ends the wait.
func (c *call) settle(ch string, in bool) error {
	move := func(m message) bool { return on(m, JoinedBridge, ch) || on(m, LeftBridge, ch) }
	hungUp := func(m message) bool { return goneOn(m, ch) }
	deadline := time.Now().Add(c.e.settleT)
	for ch != "" && c.bridged[ch] != in {
		m, ok, err := c.await(move, hungUp, time.Until(deadline))
		if err != nil || !ok {
			if err == nil && !c.mb.has(hungUp) {
				c.log.Warn("Asterisk did not report the bridge move in time", logChannel, ch, "in", in)
			}
			return err
		}
		c.trackBridge(m.ev)
	}
	return nil
}

// await waits, within limit, for a message matching want and takes it
// from the mailbox, leaving every other message in order for the phase.
// It gives up (ok false) at the limit, or as soon as a message matching
// stop is waiting, which it leaves there.
func (c *call) await(want, stop func(message) bool, limit time.Duration) (m message, ok bool, err error) {
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		if m, ok := c.mb.take(want); ok {
			return m, true, nil
		}
		if c.mb.has(stop) {
			return message{}, false, nil
		}
		select {
		case <-c.mb.notify:
		case <-t.C:
			return message{}, false, nil
		case <-c.ctx.Done():
			return message{}, false, context.Cause(c.ctx)
		}
	}
}

// endWatchdogs ends the watchdogs of every playback: the call is over.
func (c *call) endWatchdogs() {
	for id := range c.playing {
		c.endPlayback(id)
	}
}

func (c *call) stopPlayback(id string) {
	if _, ok := c.playing[id]; !ok {
		return
	}
	c.endPlayback(id)
	if err := c.e.tel.StopPlayback(c.ctx, id); err != nil && !errors.Is(err, routing.ErrCallGone) {
		c.log.Warn("stop playback", "playback", id, logErr, err)
	}
}

// stopPlaybacksOn stops what plays on one channel.
func (c *call) stopPlaybacksOn(ch string) {
	for id, pb := range c.playing {
		if pb.ch == ch {
			c.stopPlayback(id)
		}
	}
}

func (c *call) startMOH() {
	if c.moh || !c.callerUp || c.answered() != nil {
		return
	}
	if err := c.e.tel.StartMOH(c.ctx, c.caller, c.e.settings.MOHClass); err != nil {
		c.log.Warn("start music on hold", logErr, err)
		return
	}
	c.moh = true
}

func (c *call) stopMOH() {
	if !c.moh {
		return
	}
	c.moh = false
	if err := c.e.tel.StopMOH(c.ctx, c.caller); err != nil && !errors.Is(err, routing.ErrCallGone) {
		c.log.Warn("stop music on hold", logErr, err)
	}
}

// playWait plays media on ch and waits until it has finished (or ch is
// gone). Other messages meanwhile are ignored, except the caller's
// hang-up.
func (c *call) playWait(ch string, media []string, lang string) error {
	id := c.play(ch, media, lang)
	for id != "" {
		m, _, err := c.next(nil)
		if err != nil {
			return err
		}
		if finished(m, id) || goneOn(m, ch) {
			return nil
		}
	}
	return nil
}

// ask plays a question to the caller and returns the first digit pressed,
// during the prompt (which it stops) or within timeout after it; "" when
// none came.
func (c *call) ask(media []string, timeout time.Duration) (string, error) {
	id := c.play(c.caller, media, c.lang)
	var t Timer
	if id == "" {
		t = c.e.clock.NewTimer(timeout)
	}
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		m, timedOut, err := c.next(t)
		if err != nil {
			return "", err
		}
		if timedOut {
			return "", nil
		}
		if d, ok := dtmfOn(m, c.caller); ok {
			c.stopPlayback(id)
			return d, nil
		}
		if finished(m, id) && t == nil {
			t = c.e.clock.NewTimer(timeout)
		}
	}
}

// inbound is the flow of a caller who dialled a service number.
func (c *call) inbound(number string) error {
	r, ok := c.e.plan.Route(number)
	var lookup <-chan openCase
	if ok && r.Action == ActionTopic {
		// A direct topic's caller is looked up while the channel is
		// answered: the queue needs both and neither needs the other, so
		// the agent is rung one round trip sooner. (After a menu the
		// lookup would be as old as the menu, so it waits for it.)
		lookup = c.lookUpOpenCase()
	}
	if lookup != nil {
		// Nothing plays to a direct topic's caller before the queue: the
		// answer runs while the case is looked up, the call enqueued and
		// its agent dialled, and the first sound waits for it (answered).
		c.answering = c.answerAsync()
	} else if err := c.e.tel.Answer(c.ctx, c.caller); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	if r.Lang != "" {
		c.lang = r.Lang
	}
	if !ok {
		c.log.Info("unknown service number", "number", number)
		return c.playWait(c.caller, c.prompts(c.lang, PromptUnknownNumber), c.lang)
	}
	if r.Action == ActionAgentLogin {
		return c.agentFeature()
	}
	c.topic = r.Topic
	if r.Action == ActionMenu {
		topic, err := c.menu(r.Menu)
		if err != nil {
			return err
		}
		c.topic = topic
	}
	if done, err := c.returning(lookup); done || err != nil {
		return err
	}
	if c.direct != nil {
		// The owner is free (hours do not matter: someone is there).
		o := *c.direct
		c.direct = nil
		c.enqueuedAt = c.e.clock.Now()
		connected, err := c.ring(o)
		if err != nil {
			return err
		}
		if connected {
			return c.talk()
		}
	}
	if !c.e.plan.Open(c.topic, c.e.clock.Now()) {
		return c.closed()
	}
	// A first-time caller's case is opened by the enqueue itself.
	return c.queue()
}

// answer is a caller's answer in flight, then its result.
type answer struct {
	done chan struct{}
	err  error
}

// answerAsync answers the caller in a goroutine of its own, which ends
// when Asterisk answers (the request is bound by the call's context).
func (c *call) answerAsync() *answer {
	a := &answer{done: make(chan struct{})}
	ctx, tel, ch := c.ctx, c.e.tel, c.caller
	go func() {
		defer close(a.done)
		if err := tel.Answer(ctx, ch); err != nil {
			a.err = fmt.Errorf("answer: %w", err)
		}
	}()
	return a
}

// answered waits for the caller's answer in flight, if any: before
// anything is played to the caller or they are bridged. A failed answer
// is the call's error from then on.
func (c *call) answered() error {
	if c.answering == nil {
		return nil
	}
	<-c.answering.done
	return c.answering.err
}

// menu runs a voice menu until it yields a topic.
func (c *call) menu(name string) (string, error) {
	seen := map[string]bool{}
	for {
		mn, ok := c.e.plan.Menu(name)
		if !ok {
			return "", fmt.Errorf("menu %s: %w", name, routing.ErrNotFound)
		}
		if seen[name+"/"+c.lang] {
			// A configuration that loops back to a menu already heard in
			// this language would keep the caller forever.
			return mn.Default, nil
		}
		seen[name+"/"+c.lang] = true
		timeout := mn.Timeout
		if timeout <= 0 {
			timeout = c.e.settings.AnswerTimeout
		}
		next := ""
		for try := 0; try <= mn.Retries && next == ""; try++ {
			d, err := c.ask(c.prompts(c.lang, mn.Prompt), timeout)
			if err != nil {
				return "", err
			}
			opt, ok := mn.Options[d]
			if !ok {
				continue
			}
			if opt.Lang != "" {
				c.lang = opt.Lang
			}
			switch {
			case opt.Topic != "":
				return opt.Topic, nil
			case opt.Menu != "":
				next = opt.Menu
			default:
				next = name
			}
		}
		if next == "" {
			return mn.Default, nil
		}
		name = next
	}
}

// openCase is the outcome of the returning-caller lookup.
type openCase struct {
	cs    routing.Case
	found bool
	err   error
}

// lookUpOpenCase starts looking up the caller's open case. The result must
// be received exactly once, before the call's goroutine returns: the
// lookup's goroutine only sends it, so the call's goroutine stays the only
// one touching the call's state, and nothing outlives the call.
func (c *call) lookUpOpenCase() <-chan openCase {
	res := make(chan openCase, 1)
	if !phoneNumber(c.number) {
		// A withheld caller ("anonymous", "unknown", nothing) is nobody in
		// particular: looking them up would hand them a stranger's case.
		res <- openCase{}
		return res
	}
	ctx, router, number, e := c.ctx, c.e.router, c.number, c.e
	go func() {
		cs, found, err := router.OpenCaseFor(ctx, number)
		e.storeFailed(err)
		res <- openCase{cs: cs, found: found, err: err}
	}()
	return res
}

// returning recognises a caller with an open case (confirmed with one key:
// a number is not a person) and routes them to the case owner or offers the
// owner's callback. lookup, if not nil, is the lookup already started. done
// means the call needs nothing more.
func (c *call) returning(lookup <-chan openCase) (done bool, err error) {
	if lookup == nil {
		lookup = c.lookUpOpenCase()
	}
	oc := <-lookup
	cs := oc.cs
	if oc.err != nil || !oc.found {
		if oc.err != nil {
			c.log.Warn("look up open case", logErr, oc.err)
		}
		return false, nil
	}
	d, err := c.ask(c.prompts(c.lang, PromptReturning), c.e.settings.AnswerTimeout)
	if err != nil || d != "1" {
		return false, err
	}
	c.kase.id, c.kase.resumed = cs.ID, true
	if cs.Topic != "" {
		c.topic = cs.Topic
	}
	if cs.Owner == "" {
		return false, nil
	}
	// The owner is claimed for this call directly (no queue): if they are
	// free they ring now, otherwise the caller is offered their callback.
	st, ok, err := c.e.router.ClaimAgent(c.ctx, cs.Owner, Call{ID: c.id, CaseID: cs.ID, Topic: c.topic, CallerNumber: c.number, Lang: c.lang})
	if err != nil {
		c.log.Warn("claim case owner", logErr, err)
	}
	if ok {
		c.direct = &Offer{CallID: c.id, CaseID: cs.ID, Topic: c.topic, Node: c.e.node, Agent: st,
			RingDeadline: c.e.clock.Now().Add(c.e.policy.RingTimeout)}
		return false, nil
	}
	d, err = c.ask(c.prompts(c.lang, PromptOwnerCallback), c.e.settings.AnswerTimeout)
	if err != nil || d != "1" {
		return false, err
	}
	if _, err := c.e.cbs.ScheduleOwner(c.ctx, cs.ID, cs.Owner, c.e.clock.Now(), cs.Note); err != nil {
		c.log.Warn("schedule owner callback", logErr, err)
		return false, nil
	}
	c.kase.owed = true
	c.e.metrics.Callback("scheduled")
	return true, c.playWait(c.caller, c.prompts(c.lang, PromptCallbackConfirm), c.lang)
}

// closed tells the caller the topic is closed and offers a callback that
// keeps their place for when it opens.
func (c *call) closed() error {
	opens := c.e.plan.NextOpen(c.topic, c.e.clock.Now())
	if !c.canCallBack() || opens.IsZero() {
		// Nobody could dial the caller, or the topic never opens: a
		// callback offer would be a promise nobody keeps.
		return c.playWait(c.caller, c.prompts(c.lang, PromptClosed), c.lang)
	}
	c.e.metrics.Callback("offered")
	d, err := c.ask(c.prompts(c.lang, PromptClosed, PromptCallbackOffer), c.e.settings.AnswerTimeout)
	if err != nil || d != "1" {
		return err
	}
	if c.kase.id == "" {
		cs, err := c.e.router.OpenCase(c.ctx, c.number, c.topic, c.lang)
		if err != nil {
			return fmt.Errorf("open case: %w", err)
		}
		c.kase.id = cs.ID
	}
	// The place is kept from now, but the callback joins the queue only
	// when the topic opens: queued now, the first agent free for the topic
	// (on another hours' shift, or after hours) would dial it at once.
	c.enqueuedAt = c.e.clock.Now()
	if _, err := c.e.cbs.KeepPositionAt(c.ctx, c.asCall(), opens); err != nil {
		return fmt.Errorf("keep position at opening: %w", err)
	}
	c.enter(placeKept)
	c.kase.owed = true
	c.e.metrics.Callback("scheduled")
	return c.playWait(c.caller, c.prompts(c.lang, PromptCallbackConfirm), c.lang)
}

func (c *call) asCall() Call {
	return Call{
		ID: c.id, CaseID: c.kase.id, Topic: c.topic, CallerNumber: c.number, Lang: c.lang,
		Node: c.e.node, State: CallQueued, EnqueuedAt: c.enqueuedAt,
	}
}

// keepPlace turns the caller into a kept-position callback: they hear the
// confirmation and hang up, and the queue entry stays.
func (c *call) keepPlace() error {
	if c.enqueuedAt.IsZero() {
		c.enqueuedAt = c.e.clock.Now()
	}
	if _, err := c.e.cbs.KeepPosition(c.ctx, c.asCall()); err != nil {
		return fmt.Errorf("keep position: %w", err)
	}
	c.enter(placeKept)
	c.kase.owed = true
	c.e.metrics.Callback("scheduled")
	c.stopMOH()
	for id := range c.playing {
		c.stopPlayback(id)
	}
	return c.playWait(c.caller, c.prompts(c.lang, PromptCallbackConfirm), c.lang)
}
