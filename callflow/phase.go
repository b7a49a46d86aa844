package callflow

// A call goes through phases, and its phase says what the router holds
// for it — and so what ending the call (finish), or leaving it to the next
// node (detach), must do. Each phase carries only its own state.
type phaseKind int

const (
	// inEntry: answering, the menu, the hours, the returning-caller
	// question. Nothing in the router yet.
	inEntry phaseKind = iota
	// inQueue: waiting in the topic's queue. Leaving is owed.
	inQueue
	// ringing: an agent's phone rings for the call (phase.offer). Leaving
	// is owed: it frees the agent, and the caller's place.
	ringing
	// withAgent: the router has the agent on the call (the whisper, the
	// conversation). Ending the agent's part is owed.
	withAgent
	// consulting: withAgent, and a transfer target is being consulted
	// (phase.consult). The transfer is given up, then the agent's part
	// ended.
	consulting
	// afterAgent: the agent's part is over (the survey). Nothing is owed.
	afterAgent
	// placeKept: the caller left and their place is kept as a callback,
	// which the callbacks service owns now. Nothing is owed.
	placeKept
	// handedBack: the caller went back to the dialplan (unavailable): not
	// ours to hang up. Nothing is owed.
	handedBack
)

// phase is a call's phase with its own state.
type phase struct {
	kind    phaseKind
	offer   *Offer   // ringing: the agent being rung
	consult *consult // consulting: the transfer
}

// enter moves the call to a phase without phase state.
func (c *call) enter(k phaseKind) { c.phase = phase{kind: k} }

// ringingFor moves the call to ringing o.
func (c *call) ringingFor(o Offer) { c.phase = phase{kind: ringing, offer: &o} }

// caseFacts are what the case rule needs to know about the call (finish):
// a case is closed when an agent talked to the caller and nobody owes them
// a callback; a case this call opened that never reached an agent is
// closed too; a resumed case, a callback's case and any case with a
// callback promised stay open with their owners.
type caseFacts struct {
	id       string
	resumed  bool // the caller continues an existing open case
	owed     bool // someone owes the caller a callback: leave the case open
	talked   bool // an agent talked to the caller
	callback bool // this call is a callback being dialled
}

// closes reports whether the call's end closes its case.
func (k caseFacts) closes() bool {
	return k.id != "" && !k.owed && !k.callback && (k.talked || !k.resumed)
}
