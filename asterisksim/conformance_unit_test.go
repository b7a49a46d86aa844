package asterisksim

import (
	"strings"
	"testing"
)

// The conformance suite's own machinery: what the normalizer keeps and
// replaces, and that a difference between traces is reported.

func TestNormalizer(t *testing.T) {
	n := normalizer{ids: map[string]string{}, names: map[string]int{}}
	n.learn(map[string]any{"id": "1796164769.248", "name": "Local/101@agents-0000001a;2"})
	n.learn(map[string]any{"id": "1796164769.249", "name": "Local/101@agents-0000001b;2"})
	tests := []struct {
		key, in, want string
	}{
		{"id", "a;2", "a;2"}, // chosen by the probe
		{"id", "1796164769.248", "<id of Local/101@agents-<n>;2>"},
		{"id", "1796164769.249", "<id of Local/101@agents-<n>;2 #2>"},
		{"target_uri", "channel:1796164769.248", "channel:<id of Local/101@agents-<n>;2>"},
		{"id", "1796164770.7", "<uniqueid>"},
		{"id", "9521989e-bcaf-4274-825e-1af185c18300", "<uuid>"},
		{"name", "Local/100@hotline-0000000a;1", "Local/100@hotline-<n>;1"},
		{"value", "Local/101@phones-00000003;1,Announcer/ARI_MOH-00000001;2", "Local/101@phones-<n>;1,Announcer/ARI_MOH-<n>;2"},
		{"timestamp", "2026-12-02T00:08:30.424+0000", "<time>"},
		{"asterisk_id", "02:fc:00:00:00:01", "<asterisk_id>"},
		{"protocol_id", "", ""},
		{"protocol_id", "b7ab7fa504a9b932f99b@hotline-rec", "<protocol_id>"},
	}
	for _, tc := range tests {
		if got := n.str(tc.key, tc.in); got != tc.want {
			t.Errorf("%s %q: %q, want %q", tc.key, tc.in, got, tc.want)
		}
	}
	got := n.value("channels", []any{"b", "<uniqueid>", "a"})
	if canon(got) != `["a","b"]` {
		t.Errorf("bridge members %v, want [a b] (sorted, announcer left out)", got)
	}
}

func TestLineDiff(t *testing.T) {
	a := []string{"one", "two", "three", "four"}
	if d := lineDiff(a, a); d != "" {
		t.Errorf("equal traces: %q", d)
	}
	d := lineDiff(a, []string{"one", "2", "three", "four", "five"})
	for _, want := range []string{"- two", "+ 2", "+ five", "  one"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
}

func TestEventLanes(t *testing.T) {
	// Events of one object keep their order within a lane; the lanes come
	// in a fixed order.
	p := &prober{norm: normalizer{ids: map[string]string{}, names: map[string]int{}}}
	ch := map[string]any{"id": "a", "name": "Local/1@x-00000000;1", "dialplan": map[string]any{}}
	for _, typ := range []string{"ChannelDialplan", "StasisStart", "ChannelStateChange", "ChannelVarset", "ChannelConnectedLine"} {
		p.seg = append(p.seg, appEvent{app: "probe", ev: map[string]any{"type": typ, "channel": ch}})
	}
	var got []string
	for _, l := range p.render() {
		i := strings.Index(l, `"type":"`)
		got = append(got, strings.Split(l[i+8:], `"`)[0])
	}
	want := "StasisStart ChannelVarset ChannelStateChange ChannelDialplan ChannelConnectedLine"
	if strings.Join(got, " ") != want {
		t.Errorf("rendered %v, want %s", got, want)
	}
}
