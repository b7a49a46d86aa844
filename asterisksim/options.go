// Package asterisksim is a simulated Asterisk that speaks the part of ARI
// (REST over HTTP and the events websocket) that the hotline and its test
// phones use. It exists for the end-to-end suite, `hotline demo` and
// `hotline bench`; it is never on a production path.
//
// It is a protocol-level server: it knows nothing about the hotline's code.
// Its behaviour (event types, JSON shapes, ordering, status codes and error
// bodies, and which events are *not* sent) is held to a real Asterisk
// 22.10.1 by the conformance suite (conformance_test.go, probes_test.go,
// traces in testdata/conformance). Media is notional: playbacks last
// PlaybackDuration, bridges only track membership, and DTMF is delivered
// instantly.
package asterisksim

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Behaviour is what the built-in dialplan does with a call in a context. It is
// written the way Options.Dialplan spells it:
//
//	"stasis:APP[,ARG...]"  enter Stasis(APP,ARG...); ${EXTEN} in an argument is
//	                        replaced by the dialled extension
//	"answer-wait"           Answer(,i) then Wait(3600): a phone that answers
//	"ringing"               Ringing() then Wait(3600): never answers
//	"busy"                  Busy(10)
//	"congested"             Congestion(10)
//
// In the contexts "hotline" and "agents-ari" a Stasis behaviour runs the
// deployment's dialplan (deploy/asterisk/extensions_hotline.conf): NoOp(),
// ExecIf(...Set(PJSIP_TRANSFER_HANDLING()=ari-only)), Stasis(), then
// Goto(hotline-fallback,s,1) in "hotline" and Hangup(34) in "agents-ari".
// With "hotline" deployed, the context "hotline-fallback" exists too, as
// deployed: NoOp(), Set(FALLBACK=...), GotoIf(), Dial(FALLBACK,30) (see
// Options.Fallback), Answer(), Playback(hotline-unavailable), Hangup(). A
// channel reaches it when Stasis(hotline) fails or returns (POST
// /channels/{id}/continue, as the hotline hands a caller back).
//
// Every context but "hotline-fallback" (which has only "s") has the
// extension pattern _X. (a digit, then at least one more character); the
// simulator checks it only where a channel is sent to an extension by
// /continue, and lets an originate or an endpoint name any extension.
type Behaviour string

// Behaviours understood by the dialplan (besides the "stasis:" prefix).
const (
	BehaviourAnswerWait Behaviour = "answer-wait"
	BehaviourRinging    Behaviour = "ringing"
	BehaviourBusy       Behaviour = "busy"
	BehaviourCongested  Behaviour = "congested"
)

// Endpoint is a PJSIP endpoint the simulator knows. A call to it behaves like
// a call to a phone whose far side is the dialplan context Context with
// extension Exten (for the e2e suite: context "phones", so that a second ARI
// application plays the phone). An Offline endpoint has no contact, so an
// originate to it fails with 500 Allocation failed, as on a real Asterisk.
type Endpoint struct {
	Context string
	Exten   string
	Offline bool
}

// Options configure a Server. The zero value is usable: no authentication,
// the default dialplan, endpoints and sounds.
type Options struct {
	// Username and Password are required for every request (HTTP basic
	// auth or ?api_key=user:pass) when Username is not empty.
	Username string
	Password string
	// Logger receives the simulator's own diagnostics; nil discards them.
	Logger *slog.Logger
	// PlaybackDuration says how long one media item plays. Nil means
	// DefaultPlaybackDuration for every item.
	PlaybackDuration func(media string) time.Duration
	// Dialplan maps context names to behaviours; nil means DefaultDialplan().
	// A context that is not in the map behaves like a context that does not
	// exist: the originate answers 200 and the channel is destroyed at once
	// with cause 0.
	Dialplan map[string]Behaviour
	// Endpoints maps PJSIP endpoint names to phones; nil means
	// DefaultEndpoints().
	Endpoints map[string]Endpoint
	// Sounds lists the sound files that exist (names after "sound:"). Nil
	// means every sound exists unless its name starts with "missing" or
	// "no-such", which lets tests ask for a missing one by name.
	Sounds []string
	// AsteriskID is the asterisk_id put in every event; empty means
	// "02:fc:00:00:00:01", the one in the recordings.
	AsteriskID string
	// LosePlayAfterBridgeDestroy is a fault knob: the first play on a
	// channel after the bridge it was in was deleted is accepted (201)
	// and then never reports anything. A real Asterisk does this now and
	// then to a play sent while the channel is still leaving the deleted
	// bridge (about one run in six of the conformance probe
	// play-after-bridge-delete); a client must bound its wait for
	// PlaybackFinished.
	LosePlayAfterBridgeDestroy bool
	// Fallback is what the deployment's [hotline-fallback] dials (FALLBACK
	// of deploy/asterisk/install.sh): "Local/EXTEN@CONTEXT" or
	// "PJSIP/ENDPOINT" (one target; a list joined by & is not simulated).
	// Empty means DefaultFallback, as scripts/e2e-asterisk.sh installs it;
	// FallbackNone means no FALLBACK: the caller hears hotline-unavailable
	// at once.
	Fallback string
	// FallbackRing is how long that Dial() rings before it gives up; zero
	// means 30 s, as deployed.
	FallbackRing time.Duration
}

// DefaultFallback is the FALLBACK of the end-to-end stage's Asterisk: line
// 399 of the test phones (context "phones" hands it to the phones
// application with the argument 399).
const DefaultFallback = "Local/399@phones"

// FallbackNone as Options.Fallback configures an empty FALLBACK.
const FallbackNone = "none"

// DefaultPlaybackDuration is how long a media item plays when
// Options.PlaybackDuration is nil: short, so tests stay fast.
const DefaultPlaybackDuration = 20 * time.Millisecond

// DefaultDialplan returns the dialplan of the recordings and of the
// end-to-end suite (README, Tests).
func DefaultDialplan() map[string]Behaviour {
	return map[string]Behaviour{
		"hotline":    "stasis:hotline,${EXTEN}",
		"agents-ari": "stasis:hotline,agent,${EXTEN}",
		"phones":     "stasis:phones,${EXTEN}",
		"agents":     BehaviourAnswerWait,
		"ringing":    BehaviourRinging,
		"busy":       BehaviourBusy,
		"congested":  BehaviourCongested,
	}
}

// DefaultEndpoints returns the PJSIP endpoints of the recordings, each played
// by the "phones" application (context "phones", extension = endpoint name).
func DefaultEndpoints() map[string]Endpoint {
	eps := make(map[string]Endpoint)
	for _, n := range []string{"caller1", "caller2", "agent100", "agent101", "agent102"} {
		eps[n] = Endpoint{Context: "phones", Exten: n}
	}
	return eps
}

// step is a parsed Behaviour.
type step struct {
	kind Behaviour // one of the constants, or "stasis"
	app  string
	args []string // may contain ${EXTEN}
	// deployed: the context is one of deploy/asterisk/extensions_hotline.conf,
	// whose Stasis() comes after a NoOp() and an ExecIf().
	deployed string
}

const kindStasis Behaviour = "stasis"

// parseBehaviour turns a Behaviour into a step.
func parseBehaviour(b Behaviour) (step, error) {
	switch b {
	case BehaviourAnswerWait, BehaviourRinging, BehaviourBusy, BehaviourCongested:
		return step{kind: b}, nil
	}
	rest, ok := strings.CutPrefix(string(b), "stasis:")
	if !ok || rest == "" {
		return step{}, fmt.Errorf("parse behaviour %q: %w", b, ErrBadBehaviour)
	}
	parts := strings.Split(rest, ",")
	if parts[0] == "" {
		return step{}, fmt.Errorf("parse behaviour %q: %w", b, ErrBadBehaviour)
	}
	return step{kind: kindStasis, app: parts[0], args: parts[1:]}, nil
}

// stasisArgs renders the Stasis() arguments for an extension.
func (s step) stasisArgs(exten string) []string {
	args := make([]string, len(s.args))
	for i, a := range s.args {
		args[i] = strings.ReplaceAll(a, "${EXTEN}", exten)
	}
	return args
}
