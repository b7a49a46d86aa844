package baresip

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestNetstring(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{in: "5:hello,", want: []string{"hello"}},
		{in: "0:,3:abc,", want: []string{"", "abc"}},
		{in: `11:{"a":"b,:"},`, want: []string{`{"a":"b,:"}`}},
		{in: "5:hello", err: true},   // no comma
		{in: "5:hel", err: true},     // short
		{in: "x:a,", err: true},      // bad length
		{in: ":a,", err: true},       // empty length
		{in: "05:hello,", err: true}, // leading zero
		{in: "3:abcd", err: true},    // wrong terminator
		{in: "99999999:", err: true}, // too long
	} {
		r := bufio.NewReader(strings.NewReader(tc.in))
		var got []string
		var err error
		for {
			var b []byte
			b, err = readNetstring(r)
			if err != nil {
				break
			}
			got = append(got, string(b))
		}
		if tc.err {
			if errors.Is(err, io.EOF) {
				t.Errorf("%q: clean EOF, want an error", tc.in)
			}
			continue
		}
		if !errors.Is(err, io.EOF) {
			t.Errorf("%q: %v", tc.in, err)
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
		// What we write reads back.
		var enc []byte
		for _, w := range tc.want {
			enc = appendNetstring(enc, []byte(w))
		}
		if string(enc) != tc.in {
			t.Errorf("encode %q: %q", tc.want, enc)
		}
	}
}

func FuzzNetstring(f *testing.F) {
	f.Add([]byte("5:hello,"))
	f.Add([]byte(`95:{"event":true,"type":"CALL_CLOSED","class":"call","id":"x","param":"Connection reset by peer"},`))
	f.Add([]byte("0:,"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(strings.NewReader(string(in)))
		for {
			b, err := readNetstring(r)
			if err != nil {
				return
			}
			if len(b) > maxMessage {
				t.Fatalf("message of %d bytes", len(b))
			}
			_, _ = decodeMessage(b)
		}
	})
}

func TestDecodeMessage(t *testing.T) {
	m, err := decodeMessage([]byte(`{"event":true,"type":"CALL_DTMF_START","class":"call","accountaor":"sip:101@127.0.0.1:5060","direction":"incoming","peeruri":"sip:100@127.0.0.1","id":"abc","param":"5"}`))
	if err != nil || !m.Event || m.Type != "CALL_DTMF_START" || m.ID != "abc" || m.Param != "5" || m.Direction != "incoming" {
		t.Errorf("event: %+v %v", m, err)
	}
	m, err = decodeMessage([]byte(`{"response":true,"ok":false,"data":"command not found (x)\n","token":"7"}`))
	if err != nil || !m.Response || m.OK || m.Token != "7" {
		t.Errorf("response: %+v %v", m, err)
	}
	for _, bad := range []string{`{}`, `{"response":true,"event":true}`, `[`, `"x"`} {
		if _, err := decodeMessage([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestParseTransferResult(t *testing.T) {
	for in, want := range map[string]TransferResult{
		"603 Decline":             {603, "Decline"},
		"503 Service Unavailable": {503, "Service Unavailable"},
		"garbage":                 {0, "garbage"},
	} {
		if got := parseTransferResult(in); got != want {
			t.Errorf("%q: %+v, want %+v", in, got, want)
		}
	}
}

func needSox(t *testing.T) string {
	t.Helper()
	sox, err := exec.LookPath("sox")
	if err != nil {
		t.Skip("sox not found in PATH: install Debian's sox")
	}
	return sox
}

// TestToneDetection: a sox tone is heard at its frequency and not at
// another; silence and a file still being written (no sizes in its
// header) are read as they are.
func TestToneDetection(t *testing.T) {
	sox := needSox(t)
	dir := t.TempDir()
	ctx := context.Background()
	tone := filepath.Join(dir, "tone.wav")
	if err := makeTone(ctx, sox, tone, 600); err != nil {
		t.Fatal(err)
	}
	r, err := tail(tone, toneWindow)
	s, rate := r.samples, r.rate
	if err != nil || rate != sampleRate || len(s) != int(toneWindow.Seconds()*sampleRate) || r.total != toneSeconds*sampleRate {
		t.Fatalf("tail: %d of %d samples at %d Hz, %v", len(s), r.total, rate, err)
	}
	if l := measure(s, rate, 600); !l.hears() {
		t.Errorf("600 Hz tone at 600 Hz: %v", l)
	}
	for _, hz := range []float64{440, 620, 1020} {
		if l := measure(s, rate, hz); l.hears() {
			t.Errorf("600 Hz tone heard at %v Hz: %v", hz, l)
		}
	}
	if l := measure(make([]int16, 3200), rate, 600); l.hears() || l.RMS != 0 {
		t.Errorf("silence: %v", l)
	}

	// A recording in progress: libsndfile writes the sizes at close.
	b, err := os.ReadFile(tone)
	if err != nil {
		t.Fatal(err)
	}
	off, _, err := wavData(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	open := append([]byte(nil), b[:off+16000]...)
	for _, at := range []int64{4, off - 4} { // RIFF size and data size
		open[at], open[at+1], open[at+2], open[at+3] = 0, 0, 0, 0
	}
	partial := filepath.Join(dir, "partial.wav")
	if err := os.WriteFile(partial, open, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err = tail(partial, time.Second)
	if err != nil || len(r.samples) != 8000 || r.total != 8000 {
		t.Fatalf("partial: %d of %d samples, %v", len(r.samples), r.total, err)
	}
	if l := measure(r.samples, r.rate, 600); !l.hears() {
		t.Errorf("partial file: %v", l)
	}
	// A tone that stopped arriving is not heard now.
	if l := (Level{Share: 1, RMS: 5000, N: 3200, Age: time.Second}); l.hears() {
		t.Errorf("stale audio heard: %v", l)
	}
	if _, err := tail(filepath.Join(dir, "missing.wav"), time.Second); err == nil {
		t.Error("missing file: no error")
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.wav"), []byte("not a wav at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tail(filepath.Join(dir, "junk.wav"), time.Second); err == nil {
		t.Error("junk file: no error")
	}
}

func TestLoadAccounts(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("101 aa11\n# comment\n\ncaller1 bb22\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	acc, err := LoadAccounts(good)
	if err != nil || acc["101"] != "aa11" || acc["caller1"] != "bb22" || len(acc) != 2 {
		t.Errorf("%v %v", acc, err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("101\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAccounts(bad); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("bad line: %v", err)
	}
}

func TestOptionsRefused(t *testing.T) {
	ctx := context.Background()
	for _, o := range []Options{
		{User: ""},
		{User: "a b"},
		{User: "101", Password: "x;y"},
		{User: "101", Registrar: "no-port"},
		{User: "101", ToneHz: 5000},
	} {
		if p, err := StartPhone(ctx, o); err == nil {
			_ = p.Close()
			t.Errorf("%+v: started", o)
		}
	}
}

// TestPhonesDirect runs two phones peer to peer, with no Asterisk: a
// call, DTMF both ways, audio both ways, hangup; then nothing is left, no
// process, no directory, no goroutine.
func TestPhonesDirect(t *testing.T) {
	needSox(t)
	before := runtime.NumGoroutine()
	a := Start(t, Options{User: "alice", ToneHz: 600})
	b := Start(t, Options{User: "bob", ToneHz: 1020})
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := a.Register(ctx); err == nil {
		t.Error("a phone without a registrar registered")
	}

	out, err := a.Dial(ctx, b.URI())
	must(t, err)
	in, err := b.WaitIncoming(ctx)
	must(t, err)
	if in.Direction != "incoming" || !strings.Contains(in.Peer, "alice") {
		t.Errorf("incoming call %+v", in)
	}
	must(t, out.WaitRinging(ctx))
	must(t, in.Answer(ctx))
	must(t, out.WaitEstablished(ctx))

	must(t, out.WaitHears(ctx, b))
	must(t, in.WaitHears(ctx, a))
	if out.Hears(a.ToneHz()) || in.Hears(b.ToneHz()) {
		t.Error("a phone hears its own voice")
	}
	must(t, out.SendDTMF(ctx, "12#"))
	must(t, in.WaitDTMF(ctx, "12#"))
	must(t, in.SendDTMF(ctx, "*9"))
	must(t, out.WaitDTMF(ctx, "*9"))
	if out.DTMF() != "*9" || in.DTMF() != "12#" {
		t.Errorf("received %q and %q", out.DTMF(), in.DTMF())
	}
	if err := out.SendDTMF(ctx, "1x"); err == nil {
		t.Error("sent a digit that is not DTMF")
	}

	must(t, in.Hangup(ctx))
	reason, err := out.WaitClosed(ctx)
	must(t, err)
	if reason == "" {
		t.Error("no reason")
	}
	if err := out.WaitEstablished(ctx); !errors.Is(err, ErrCallClosed) {
		t.Errorf("wait on a closed call: %v", err)
	}
	if err := out.Hangup(ctx); err != nil {
		t.Errorf("hangup of a closed call: %v", err)
	}

	// A call nobody answers, cancelled by the caller.
	out2, err := a.Dial(ctx, b.URI())
	must(t, err)
	in2, err := b.WaitIncoming(ctx)
	must(t, err)
	must(t, out2.Hangup(ctx))
	if _, err := in2.WaitClosed(ctx); err != nil {
		t.Fatal(err)
	}

	// A wait that cannot succeed ends with its context.
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	if _, err := b.WaitIncoming(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait with nothing coming: %v", err)
	}

	dirs := []string{a.dir, b.dir}
	for _, p := range []*Phone{a, b} {
		must(t, p.Close())
		must(t, p.Close()) // idempotent
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", d, err)
		}
	}
	if _, err := a.Dial(ctx, b.URI()); !errors.Is(err, ErrClosed) {
		t.Errorf("dial on a closed phone: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines left (had %d):\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
