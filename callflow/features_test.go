package callflow

import (
	"strings"
	"testing"

	"github.com/hotline-project/hotline/routing"
)

func TestParseFeature(t *testing.T) {
	f := DefaultSettings().Features
	f.TopicDigits = map[string]string{"1": "connections", "2": "audit"}
	topic := func(n string) routing.Destination { return routing.Destination{Kind: routing.DestTopic, Name: n} }
	agentTo := func(n string) routing.Destination { return routing.Destination{Kind: routing.DestAgent, Name: n} }
	tests := []struct {
		buf    string
		status FeatureStatus
		want   Feature
	}{
		{"", FeatureIncomplete, Feature{}},
		{"*", FeatureIncomplete, Feature{}},
		{"*2", FeatureIncomplete, Feature{}},
		{"*21", FeatureMatched, Feature{Kind: FeatureConsult, To: topic("connections")}},
		{"*22", FeatureMatched, Feature{Kind: FeatureConsult, To: topic("audit")}},
		{"*29", FeatureInvalid, Feature{}},
		{"*3", FeatureIncomplete, Feature{}},
		{"*3101", FeatureIncomplete, Feature{}},
		{"*3101#", FeatureMatched, Feature{Kind: FeatureConsult, To: agentTo("101")}},
		{"*3#", FeatureInvalid, Feature{}},
		{"*31*", FeatureInvalid, Feature{}},
		{"*3" + strings.Repeat("1", 13), FeatureInvalid, Feature{}},
		{"#", FeatureMatched, Feature{Kind: FeatureComplete}},
		{"*0", FeatureMatched, Feature{Kind: FeatureCancel}},
		{"*7", FeatureMatched, Feature{Kind: FeatureTakeOwnership}},
		{"*9", FeatureMatched, Feature{Kind: FeaturePauseAfter}},
		{"*5", FeatureInvalid, Feature{}},
		{"1", FeatureInvalid, Feature{}},
	}
	for _, tt := range tests {
		t.Run(tt.buf, func(t *testing.T) {
			got, st := ParseFeature(tt.buf, f)
			if st != tt.status || got != tt.want {
				t.Errorf("ParseFeature(%q) = %+v, %v; want %+v, %v", tt.buf, got, st, tt.want, tt.status)
			}
		})
	}
}

func TestParseFeatureConfiguredCodes(t *testing.T) {
	f := Features{ConsultTopic: "**1", ConsultAgent: "**2", AgentIDEnd: "*", Complete: "##", Cancel: "**0", TakeOwnership: "**7", PauseAfter: "**9",
		TopicDigits: map[string]string{"4": "service"}}
	tests := []struct {
		buf    string
		status FeatureStatus
		kind   FeatureKind
	}{
		{"#", FeatureIncomplete, FeatureNone},
		{"##", FeatureMatched, FeatureComplete},
		{"**14", FeatureMatched, FeatureConsult},
		{"**2100*", FeatureMatched, FeatureConsult},
		{"*2", FeatureInvalid, FeatureNone},
	}
	for _, tt := range tests {
		t.Run(tt.buf, func(t *testing.T) {
			got, st := ParseFeature(tt.buf, f)
			if st != tt.status || got.Kind != tt.kind {
				t.Errorf("ParseFeature(%q) = %+v, %v", tt.buf, got, st)
			}
		})
	}
}

// FuzzParseFeature checks that any digit string either waits, matches or
// is refused, that a match names a usable destination, and that an
// incomplete buffer stays bounded.
func FuzzParseFeature(f *testing.F) {
	for _, s := range []string{"*21", "*3101#", "#", "*0", "*7", "*9", "**", "*3#", "*31*", "0123456789*#ABCD"} {
		f.Add(s)
	}
	feat := DefaultSettings().Features
	feat.TopicDigits = map[string]string{"1": "connections"}
	f.Fuzz(func(t *testing.T, buf string) {
		got, st := ParseFeature(buf, feat)
		switch st {
		case FeatureMatched:
			if got.Kind == FeatureNone {
				t.Fatalf("%q matched nothing", buf)
			}
			if got.Kind == FeatureConsult {
				if _, err := routing.ParseDestination(got.To.String()); err != nil {
					t.Fatalf("%q: destination %v: %v", buf, got.To, err)
				}
			}
		case FeatureIncomplete:
			if len(buf) > len(feat.ConsultAgent)+maxAgentIDDigits {
				t.Fatalf("%q left incomplete at %d digits", buf, len(buf))
			}
		case FeatureInvalid:
			if got != (Feature{}) {
				t.Fatalf("%q invalid with %+v", buf, got)
			}
		}
	})
}
