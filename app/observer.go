package app

import (
	"time"

	"github.com/hotline-project/hotline/callflow"
	"github.com/hotline-project/hotline/metrics"
	"github.com/hotline-project/hotline/routing"
)

// observer counts the call flow's measurements in the daemon's metrics.
type observer struct{ m *metrics.Metrics }

var _ callflow.Observer = observer{}

func (o observer) CallOffered(topic string)                   { o.m.CallOffered(topic) }
func (o observer) CallAnswered(topic string, w time.Duration) { o.m.CallAnswered(topic, w) }
func (o observer) CallHandled(topic string, d time.Duration)  { o.m.CallHandled(topic, d) }
func (o observer) Abandoned(topic string)                     { o.m.CallAbandoned(topic) }
func (o observer) Rating(score int)                           { o.m.Rating(score) }
func (o observer) AgentsPerResolvedCall(n int)                { o.m.CaseResolved(n) }
func (o observer) Consult(d time.Duration, result string) {
	o.m.TransferEnded(metrics.TransferResult(result), d)
}
func (o observer) MailboxOverflow()            { o.m.CallMailboxOverflowed() }
func (o observer) PlaybackFailed(sound string) { o.m.PlaybackFailed(sound) }
func (o observer) AgentUnreachable()           { o.m.AgentUnreachable() }
func (o observer) HandedBack(reason string)    { o.m.HandedBack(reason) }

// Transfer counts refusals only: a consult that ran is counted, with its
// duration, by Consult.
func (o observer) Transfer(result string) {
	for _, code := range routing.RefusalCodes() {
		if result == string(code) {
			o.m.TransferRefused(code)
			return
		}
	}
}

// Callback counts offers only: the callbacks service reports every state a
// callback reaches (scheduled, completed, failed, escalated) through
// CallbackOptions.OnState, once per callback, whichever node dials it.
func (o observer) Callback(state string) {
	if state == string(metrics.CallbackOffered) {
		o.m.Callback(metrics.CallbackOffered)
	}
}
