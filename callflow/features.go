package callflow

import (
	"strings"

	"github.com/hotline-project/hotline/routing"
)

// FeatureKind is what an agent's DTMF code asks for.
type FeatureKind int

// Feature kinds.
const (
	FeatureNone FeatureKind = iota
	FeatureConsult
	FeatureComplete
	FeatureCancel
	FeatureTakeOwnership
	FeaturePauseAfter
	FeatureEscalate
)

// Feature is a recognised feature code.
type Feature struct {
	Kind FeatureKind
	To   routing.Destination // for FeatureConsult
}

// FeatureStatus says what a buffer of digits amounts to so far.
type FeatureStatus int

// Feature statuses.
const (
	FeatureIncomplete FeatureStatus = iota // a prefix of some code: wait for more
	FeatureMatched
	FeatureInvalid // matches nothing: error tone, start again
)

// maxAgentIDDigits bounds "*3"+id so a stuck key cannot grow the buffer.
const maxAgentIDDigits = 12

// ParseFeature reads the digits an agent has pressed since the last code.
// It is pure so every code sequence can be tested and fuzzed.
func ParseFeature(buf string, f Features) (Feature, FeatureStatus) {
	if buf == "" {
		return Feature{}, FeatureIncomplete
	}
	if f.ConsultAgent != "" && strings.HasPrefix(buf, f.ConsultAgent) {
		rest := buf[len(f.ConsultAgent):]
		if id, ok := strings.CutSuffix(rest, f.AgentIDEnd); ok && f.AgentIDEnd != "" {
			if id == "" || !isDigits(id) {
				return Feature{}, FeatureInvalid
			}
			return Feature{Kind: FeatureConsult, To: routing.Destination{Kind: routing.DestAgent, Name: id}}, FeatureMatched
		}
		if len(rest) > maxAgentIDDigits || !isDigits(rest) {
			return Feature{}, FeatureInvalid
		}
		return Feature{}, FeatureIncomplete
	}
	if f.ConsultTopic != "" && strings.HasPrefix(buf, f.ConsultTopic) {
		rest := buf[len(f.ConsultTopic):]
		if rest == "" {
			return Feature{}, FeatureIncomplete
		}
		if topic, ok := f.TopicDigits[rest]; ok {
			return Feature{Kind: FeatureConsult, To: routing.Destination{Kind: routing.DestTopic, Name: topic}}, FeatureMatched
		}
		return Feature{}, FeatureInvalid
	}
	simple := []struct {
		code string
		kind FeatureKind
	}{
		{f.Complete, FeatureComplete},
		{f.Cancel, FeatureCancel},
		{f.TakeOwnership, FeatureTakeOwnership},
		{f.PauseAfter, FeaturePauseAfter},
		{f.Escalate, FeatureEscalate},
	}
	prefix := false
	for _, s := range simple {
		if s.code == "" {
			continue
		}
		if buf == s.code {
			return Feature{Kind: s.kind}, FeatureMatched
		}
		if strings.HasPrefix(s.code, buf) {
			prefix = true
		}
	}
	for _, code := range []string{f.ConsultAgent, f.ConsultTopic} {
		if code != "" && strings.HasPrefix(code, buf) {
			prefix = true
		}
	}
	if prefix {
		return Feature{}, FeatureIncomplete
	}
	return Feature{}, FeatureInvalid
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
