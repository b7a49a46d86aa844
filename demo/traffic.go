package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hotline-project/hotline/phones"
)

// The traffic script: callers arrive at random (Poisson), find their way
// through the menu (some press a wrong key first), wait with music, some
// give up and some take the callback offer; agents log in through the API,
// answer after a ring, talk, write a note, sometimes transfer (the target
// accepts or declines with a key; a target who tries to send the caller
// back where they came from is refused as a loop) or keep the case and
// schedule a callback; callers rate the call, a few pressing twice.
//
// Each caller and each agent is a goroutine with the traffic's context and
// its own random source drawn from the seeded one; every phone it holds is
// hung up when it leaves.

// Sound names of demo.yaml and the call flow that the script reacts to.
const (
	soundMainMenu     = "hotline-main-menu"
	soundLanguageMenu = "hotline-choose-language"
	soundTopicsMenu   = "hotline-topics-menu"
	soundCallbackOfr  = "hotline-callback-offer"
	soundRecognised   = "hotline-case-recognised"
	soundOwnerOffer   = "hotline-owner-callback-offer"
	soundSurvey       = "hotline-survey"
	soundAccept       = "hotline-accept-transfer"
	soundReturned     = "hotline-transfer-returned"
)

// topicDigit is each topic's key in the main and topics menus.
var topicDigit = map[string]string{"connections": "1", "audit": "2", "service": "3", "requests": "4"}

// menuNumbers lead to the main menu; directNumbers straight to a topic.
var (
	menuNumbers   = []string{"0800300100", "+380442001000", "+48221234500", "+442071234500"}
	directNumbers = map[string]string{
		"0800300200": "connections", "0800300300": "audit", "0800300400": "service", "0800300500": "requests",
	}
)

// notes are what agents write about a caller's problem, by topic.
var notes = map[string][]string{
	"connections": {
		"New fibre subscription at a flat in Podil, wants an install date",
		"Moving house next month, asks to move the line and keep the number",
		"Installer did not come on Tuesday, wants a new visit slot",
	},
	"audit": {
		"Invoice for March charged twice, asks for a refund",
		"Wants a copy of the contract and the price list it refers to",
		"Disputes the early termination fee after moving abroad",
	},
	"service": {
		"No internet since this morning, router light blinks red",
		"TV channels freeze every evening, already restarted the box",
		"Line crackles on calls, outdoor cable damaged by the storm",
	},
	"requests": {
		"Vendor offers network cabinets, wants the purchasing contact",
		"City council asks about planned works on Khreshchatyk street",
		"Journalist asks for a comment on the new tariffs",
	},
}

type traffic struct {
	d   *Demo
	log *slog.Logger
	rng *rand.Rand // the seeded source; only run's goroutine draws from it

	mu    sync.Mutex
	wg    sync.WaitGroup
	calls int
}

func newTraffic(d *Demo, seed int64) *traffic {
	return &traffic{d: d, log: d.log.With("part", "traffic"), rng: rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))}
}

// child is a random source for one goroutine, drawn from the seeded one.
func (t *traffic) child() *rand.Rand {
	return rand.New(rand.NewPCG(t.rng.Uint64(), t.rng.Uint64()))
}

// run starts the agents, then places callers until ctx ends, and waits
// for every caller and agent to leave.
func (t *traffic) run(ctx context.Context) {
	defer t.wg.Wait()
	for _, ag := range t.d.cfg.Agents {
		a := &agent{t: t, id: ag.ID, token: t.d.tokens.Agents[ag.ID], rng: t.child(), log: t.log.With("agent", ag.ID)}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			a.run(ctx)
		}()
	}
	mean := float64(time.Minute) / t.d.opts.Rate
	timer := time.NewTimer(time.Duration(t.rng.ExpFloat64() * mean))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		t.mu.Lock()
		t.calls++
		n := t.calls
		t.mu.Unlock()
		c := &caller{t: t, n: n, rng: t.child()}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			c.run(ctx)
		}()
		timer.Reset(time.Duration(t.rng.ExpFloat64() * mean))
	}
}

// hangup puts a phone down when its script leaves, with a context of its
// own: the script's may already be over.
func (t *traffic) hangup(p *phones.Phone) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.Hangup(ctx); err != nil && !errors.Is(err, phones.ErrHungUp) {
		t.log.Debug("hang up", "phone", p.ID(), "err", err)
	}
}

// pause sleeps for d or until ctx ends; false if ctx ended.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// between is a random duration in [lo, hi), scaled by pace.
func between(rng *rand.Rand, pace float64, lo, hi time.Duration) time.Duration {
	return time.Duration(pace * float64(lo+time.Duration(rng.Int64N(int64(hi-lo)))))
}

func chance(rng *rand.Rand, p float64) bool { return rng.Float64() < p }

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// --- callers

type caller struct {
	t   *traffic
	n   int
	rng *rand.Rand
}

// topicWeights is how often callers want each topic.
var topicWeights = []struct {
	topic  string
	weight float64
}{{"connections", .3}, {"audit", .25}, {"service", .35}, {"requests", .1}}

func (c *caller) wantTopic() string {
	x := c.rng.Float64()
	for _, w := range topicWeights {
		if x < w.weight {
			return w.topic
		}
		x -= w.weight
	}
	return "service"
}

func (c *caller) run(ctx context.Context) {
	// Numbers come from a small pool so that some callers call again
	// while their case is open and are recognised.
	from := fmt.Sprintf("067%07d", 1000+c.rng.IntN(400))
	number := pick(c.rng, menuNumbers)
	topic := c.wantTopic()
	if chance(c.rng, .35) {
		for n, tp := range directNumbers {
			if tp == topic {
				number = n
			}
		}
	}
	log := c.t.log.With("caller", c.n, "from", from, "number", number)
	p, err := c.t.d.phones.Call(ctx, number, from)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("place call", "err", err)
		}
		return
	}
	defer c.t.hangup(p)
	log.Info("script: caller dials", "wants", topic)

	// A caller who is not talking to anyone by then hangs up.
	patience := 8*time.Second + time.Duration(c.rng.ExpFloat64()*float64(25*time.Second))
	if chance(c.rng, .12) {
		// In a hurry: gives up after a few seconds in the queue.
		patience = between(c.rng, 1, 3*time.Second, 7*time.Second)
	}
	patience = time.Duration(c.t.d.opts.Pace * float64(patience))
	waitCtx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	s := &callerState{wrongFirst: chance(c.rng, .15), language: chance(c.rng, .08), takeCallback: chance(c.rng, .5)}
	seen := 0
	for {
		connected := p.Connected()
		err := p.Wait(waitCtx, "something new", func(st phones.State) bool {
			return st.HeardCount("") > seen || st.Connected() != connected
		})
		switch {
		case errors.Is(err, phones.ErrHungUp):
			return
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			// Patience ran out before anyone answered: abandon.
			log.Info("script: caller gives up waiting", "patience", patience.Round(time.Millisecond))
			return
		}
		if p.Connected() {
			s.talked = true
		}
		heard := p.Heard()
		for _, media := range heard[seen:] {
			if done := c.react(ctx, log, p, media, topic, s); done {
				return
			}
		}
		seen = len(heard)
		if s.talked || s.tookCallback {
			// Talking to someone, or told they will be called back:
			// patience no longer applies.
			cancel()
			waitCtx = ctx
		}
	}
}

// callerState is what a caller remembers during one call.
type callerState struct {
	wrongFirst, language, takeCallback bool
	tookCallback                       bool // waits to be hung up on, then called back
	menus                              int  // menu prompts heard
	offered                            bool // callback offer heard
	rated                              bool
	talked                             bool
}

// react answers one thing the caller heard; true means the caller is done
// (rated and hung up, or took the callback and waits to be hung up on).
func (c *caller) react(ctx context.Context, log *slog.Logger, p *phones.Phone, media, topic string, s *callerState) bool {
	press := func(digits string) {
		if !pause(ctx, between(c.rng, c.t.d.opts.Pace, 300*time.Millisecond, 1200*time.Millisecond)) {
			return
		}
		if err := p.Press(ctx, digits); err != nil && !errors.Is(err, phones.ErrHungUp) && ctx.Err() == nil {
			c.t.log.Debug("press", "digits", digits, "err", err)
		}
	}
	switch {
	case strings.Contains(media, soundMainMenu), strings.Contains(media, soundTopicsMenu):
		s.menus++
		switch {
		case s.menus == 1 && s.wrongFirst:
			log.Info("script: caller presses a wrong key first")
			press(pick(c.rng, []string{"7", "0", "5"}))
		case s.language && strings.Contains(media, soundMainMenu):
			press("9")
		default:
			press(topicDigit[topic])
		}
	case strings.Contains(media, soundLanguageMenu):
		press(pick(c.rng, []string{"1", "2", "3", "4"}))
	case strings.Contains(media, soundRecognised), strings.Contains(media, soundOwnerOffer):
		press("1")
	case strings.Contains(media, soundCallbackOfr) && !s.offered && !s.talked:
		s.offered = true
		if s.takeCallback {
			log.Info("script: caller takes the callback offer")
			press("1")
			s.tookCallback = true
		}
	case strings.Contains(media, soundSurvey) && !s.rated:
		s.rated = true
		if chance(c.rng, .1) {
			break // hangs up without rating
		}
		score := "1"
		if chance(c.rng, .25) {
			score = "2"
		}
		log.Info("script: caller rates the call", "score", score)
		press(score)
		if chance(c.rng, .15) {
			// Pressing again changes nothing: one rating per call.
			press(pick(c.rng, []string{"1", "2"}))
		}
		// Hear the thanks, then put the phone down.
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_ = p.WaitHungUp(wctx)
		return true
	}
	return false
}

// --- agents

type agent struct {
	t     *traffic
	id    string
	token string
	rng   *rand.Rand
	log   *slog.Logger
}

func (a *agent) api() *apiClient { return a.t.d.client }

// run logs the agent in, then answers what rings and now and then takes a
// break, until ctx ends.
func (a *agent) run(ctx context.Context) {
	if !pause(ctx, between(a.rng, a.t.d.opts.Pace, 0, 2*time.Second)) {
		return
	}
	if err := a.api().setState(ctx, a.token, a.id, "login", ""); err != nil {
		if ctx.Err() == nil {
			a.log.Warn("log in", "err", err)
		}
	}
	line := a.t.d.phones.Agent(a.id)
	breaks := time.NewTimer(between(a.rng, a.t.d.opts.Pace, 8*time.Second, 20*time.Second))
	defer breaks.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-line.Ringing():
			a.ring(ctx, p)
		case <-breaks.C:
			a.breakOrResume(ctx)
			breaks.Reset(between(a.rng, a.t.d.opts.Pace, 6*time.Second, 20*time.Second))
		}
	}
}

// breakOrResume resumes an agent the hotline paused (a missed ring) or
// one back from a break, and sends an idle agent on a short break now and
// then.
func (a *agent) breakOrResume(ctx context.Context) {
	st, err := a.api().agent(ctx, a.token, a.id)
	if err != nil {
		return
	}
	switch st.State {
	case "paused":
		a.log.Info("script: agent resumes", "was", st.Reason)
		if err := a.api().setState(ctx, a.token, a.id, "resume", ""); err != nil && ctx.Err() == nil {
			a.log.Debug("resume", "err", err)
		}
	case "available":
		if !chance(a.rng, .25) {
			return
		}
		reason := pick(a.rng, []string{"coffee", "training", "paperwork"})
		a.log.Info("script: agent takes a break", "reason", reason)
		if err := a.api().setState(ctx, a.token, a.id, "pause", reason); err != nil && ctx.Err() == nil {
			a.log.Debug("pause", "err", err)
		}
	}
}

// ring handles one call ringing the agent's phone: a caller from the
// queue, a colleague's transfer, or a callback the hotline dials.
func (a *agent) ring(ctx context.Context, p *phones.Phone) {
	defer a.t.hangup(p)
	st, err := a.api().agent(ctx, a.token, a.id)
	if err != nil {
		a.log.Debug("read own state", "err", err)
	}
	var call callView
	known := false
	if st.CallID != "" {
		if call, err = a.api().call(ctx, a.token, st.CallID); err == nil {
			known = true
		}
	}
	target := known && call.AgentID != a.id && call.State == "consulting"
	if !target && known && chance(a.rng, .04) {
		// Away from the desk: the hotline pauses the agent after the ring
		// timeout and offers the caller to the next one.
		a.log.Info("script: agent away from the desk, lets it ring", "call", call.ID)
		_ = p.WaitHungUp(ctx)
		return
	}
	if !pause(ctx, between(a.rng, a.t.d.opts.Pace, 400*time.Millisecond, 1800*time.Millisecond)) {
		return
	}
	if err := p.Answer(ctx); err != nil {
		return // the caller gave up meanwhile
	}
	switch {
	case target:
		a.consulted(ctx, p, call)
	case known:
		a.talk(ctx, p, call, false)
	default:
		a.callbackLeg(ctx, p)
	}
}

// consulted is the agent as a transfer target: hear the whisper, then
// accept (1) or decline (2).
func (a *agent) consulted(ctx context.Context, p *phones.Phone, call callView) {
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := p.WaitHeard(wctx, soundAccept); err != nil {
		return
	}
	if !pause(ctx, between(a.rng, a.t.d.opts.Pace, 300*time.Millisecond, 1200*time.Millisecond)) {
		return
	}
	if chance(a.rng, .3) {
		a.log.Info("script: agent declines the transfer", "call", call.ID)
		_ = p.Press(ctx, "2")
		_ = p.WaitHungUp(wctx)
		return
	}
	a.log.Info("script: agent accepts the transfer", "call", call.ID)
	if err := p.Press(ctx, "1"); err != nil {
		return
	}
	a.talk(ctx, p, call, true)
}

// talk is a conversation with the caller on call: talk, write the note,
// and end it one of several ways.
func (a *agent) talk(ctx context.Context, p *phones.Phone, call callView, transferred bool) {
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := p.WaitConnected(wctx); err != nil {
		return
	}
	if !pause(ctx, between(a.rng, a.t.d.opts.Pace, 1500*time.Millisecond, 5*time.Second)) {
		return
	}
	topic := call.Topic
	note := pick(a.rng, notes[topicOr(topic)])
	if !transferred {
		if err := a.api().setNote(ctx, a.token, call.ID, note); err != nil && ctx.Err() == nil {
			a.log.Debug("note", "call", call.ID, "err", err)
		}
		if topic == "requests" && chance(a.rng, .7) {
			a.recordRequest(ctx, call, note)
		}
	}
	switch x := a.rng.Float64(); {
	case transferred && x < .45:
		// Try to send the caller back where they came from: refused as a
		// loop. The agent keeps the case and calls back instead, or
		// solves it now.
		back := a.origin(ctx, call.ID)
		if back == "" {
			break
		}
		a.log.Info("script: agent tries to send the caller back", "call", call.ID, "to", back)
		err := a.api().transfer(ctx, a.token, call.ID, back, "Back to the first department: "+note)
		if code := refusal(err); code != "" {
			a.log.Info("script: sending the caller back is refused", "call", call.ID, "to", back, "code", code)
			if chance(a.rng, .5) {
				a.ownerCallback(ctx, p, call.ID, note)
				return
			}
		}
		pause(ctx, between(a.rng, a.t.d.opts.Pace, time.Second, 3*time.Second))
	case !transferred && x < .25:
		to := "topic:" + a.transferTopic(ctx, topic)
		a.log.Info("script: agent transfers", "call", call.ID, "to", to)
		if err := a.api().transfer(ctx, a.token, call.ID, to, note); err != nil {
			a.log.Info("script: transfer refused", "call", call.ID, "to", to, "code", refusal(err))
			// Refused (target unavailable, …): go on with the caller.
			pause(ctx, between(a.rng, a.t.d.opts.Pace, time.Second, 3*time.Second))
			break
		}
		// Accepted: the hotline hangs up this leg. Declined or not
		// answered: the caller is back and hears so.
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		_ = p.Wait(wctx, "transfer outcome", func(s phones.State) bool { return s.HeardCount(soundReturned) > 0 })
		if p.HungUp() || ctx.Err() != nil {
			return
		}
		if chance(a.rng, .4) {
			a.ownerCallback(ctx, p, call.ID, note)
			return
		}
		pause(ctx, between(a.rng, a.t.d.opts.Pace, time.Second, 3*time.Second))
	case x > .93:
		a.ownerCallback(ctx, p, call.ID, note)
		return
	default:
		pause(ctx, between(a.rng, a.t.d.opts.Pace, time.Second, 4*time.Second))
	}
}

// ownerCallback keeps the case: the caller hears the agent will call back,
// and the hotline dials the agent, then the caller, when it is due.
func (a *agent) ownerCallback(ctx context.Context, p *phones.Phone, callID, note string) {
	in := between(a.rng, a.t.d.opts.Pace, 15*time.Second, 40*time.Second)
	a.log.Info("script: agent keeps the case and will call back", "call", callID, "in", in.Round(time.Second))
	err := a.api().callback(ctx, a.token, callID, in, "Call back: "+note)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Debug("owner callback", "call", callID, "err", err)
		}
		return
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = p.WaitHungUp(wctx)
}

// callbackLeg is a call the hotline dials to the agent first (a callback):
// wait to be connected with the caller, talk, hang up.
func (a *agent) callbackLeg(ctx context.Context, p *phones.Phone) {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.WaitConnected(wctx); err != nil {
		return
	}
	pause(ctx, between(a.rng, a.t.d.opts.Pace, 2*time.Second, 5*time.Second))
}

// people are the non-customer callers whose requests agents record.
var people = []request{
	{City: "Kyiv", Organisation: "Kyiv City Council", Position: "Head of roads department", FullName: "Vasyl Hrytsenko"},
	{City: "Lviv", Organisation: "NetCab LLC", Position: "Sales manager", FullName: "Marta Ivanyshyn"},
	{City: "Odesa", Organisation: "Odesa Daily", Position: "Journalist", FullName: "Ihor Petrenko"},
	{City: "Warsaw", Organisation: "Fibra Sp. z o.o.", Position: "Account manager", FullName: "Katarzyna Wójcik"},
}

// recordRequest files a non-customer call for the senior operators.
func (a *agent) recordRequest(ctx context.Context, call callView, purpose string) {
	r := pick(a.rng, people)
	r.Kind, r.CaseID, r.Purpose = "request", call.CaseID, purpose
	r.ContactPhone = fmt.Sprintf("+38044%07d", a.rng.IntN(10000000))
	if err := a.api().createRequest(ctx, a.token, r); err != nil && ctx.Err() == nil {
		a.log.Debug("record request", "call", call.ID, "err", err)
	}
}

// origin is the first topic on the call's path: where the caller started.
func (a *agent) origin(ctx context.Context, callID string) string {
	call, err := a.api().call(ctx, a.token, callID)
	if err != nil || call.Case == nil {
		return ""
	}
	for _, h := range call.Case.Path {
		if strings.HasPrefix(h.To, "topic:") {
			return h.To
		}
	}
	return ""
}

// transferTopic is where the agent sends a caller: mostly a topic with a
// colleague free now, as the desk's agent list shows (a topic with nobody
// free is refused as target_unavailable), sometimes any other topic.
func (a *agent) transferTopic(ctx context.Context, topic string) string {
	var free []string
	if as, err := a.api().agents(ctx, a.token); err == nil && chance(a.rng, .8) {
		for _, ag := range as {
			if ag.ID == a.id || ag.State != "available" {
				continue
			}
			for t := range ag.Topics {
				if t != topic {
					free = append(free, t)
				}
			}
		}
	}
	if len(free) > 0 {
		sort.Strings(free) // map order would defeat the seed
		return pick(a.rng, free)
	}
	for {
		t := pick(a.rng, []string{"connections", "audit", "service", "requests"})
		if t != topic {
			return t
		}
	}
}

func topicOr(topic string) string {
	if _, ok := notes[topic]; ok {
		return topic
	}
	return "service"
}
