package asterisksim

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
)

// The hotline decodes known events with the ari library; every event the
// simulator sends (ChannelTransfer aside, which the library does not know)
// must decode with it, timestamps included.
func TestEventsDecodeWithARILibrary(t *testing.T) {
	s := startSim(t, Options{})
	rc := newREST(s)
	ws := dialEvents(t, s, "hotline")
	two, one := stasisCaller(t, rc, ws, "100")
	rc.mustJSON(t, 200, "POST", "/applications/hotline/subscription", q("eventSource", "channel:"+one), nil)
	br := rc.mustJSON(t, 200, "POST", "/bridges", q("type", "mixing"), nil)
	rc.mustJSON(t, 204, "POST", "/bridges/"+br["id"].(string)+"/addChannel", q("channel", two), nil)
	rc.mustJSON(t, 201, "POST", "/channels/"+two+"/play", q("media", "sound:a,sound:b"), nil)
	rc.mustJSON(t, 204, "POST", "/channels/"+two+"/dtmf", q("dtmf", "1"), nil)
	rc.mustJSON(t, 204, "POST", "/channels/"+two+"/variable", q("variable", "X", "value", "1"), nil)
	time.Sleep(50 * time.Millisecond)
	rc.mustJSON(t, 204, "DELETE", "/channels/"+two, nil, nil)
	rc.mustJSON(t, 204, "DELETE", "/bridges/"+br["id"].(string), nil, nil)
	rc.mustJSON(t, 200, "POST", "/channels", q("endpoint", "Local/1@busy", "app", "hotline"), nil)

	seen := map[string]bool{}
	for _, ev := range ws.drain(200 * time.Millisecond) {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		typ := ev["type"].(string)
		seen[typ] = true
		dec, err := ari.DecodeEvent(b)
		if err != nil {
			t.Errorf("decode %s: %v (%s)", typ, err, b)
			continue
		}
		if dec.GetType() != typ {
			t.Errorf("decoded type %s, want %s", dec.GetType(), typ)
		}
		if dec.GetApplication() != "hotline" || dec.GetNode() != "02:fc:00:00:00:01" {
			t.Errorf("%s: application %q node %q", typ, dec.GetApplication(), dec.GetNode())
		}
	}
	for _, want := range []string{"ChannelStateChange", "Dial", "ChannelEnteredBridge",
		"PlaybackStarted", "PlaybackContinuing", "PlaybackFinished", "ChannelDtmfReceived", "ChannelVarset",
		"ChannelHangupRequest", "ChannelLeftBridge", "StasisEnd", "ChannelDestroyed", "BridgeDestroyed"} {
		if !seen[want] {
			t.Errorf("scenario produced no %s", want)
		}
	}
	var ch ari.ChannelData
	st, body := rc.do(t, "POST", "/channels", q("endpoint", "Local/2@agents", "app", "hotline"), nil)
	if st != 200 {
		t.Fatalf("originate %d", st)
	}
	if err := json.Unmarshal(body, &ch); err != nil || ch.ID == "" || ch.Name == "" {
		t.Errorf("channel body with the ari library: %+v, %v", ch, err)
	}
}
