package prompts_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-project/hotline/app"
	"github.com/hotline-project/hotline/ari"
	"github.com/hotline-project/hotline/prompts"
)

// numbersPlayed are the number:N values played in each language: every
// kind of file the say.c functions reach (teens, tens, hundreds, each
// thousands form, the feminine 1f and 2f of Russian thousands).
var numbersPlayed = []int{0, 1, 2, 5, 12, 21, 45, 100, 235, 999, 1000, 2000, 5000, 21000, 102001}

// TestPlayEverySoundOnAsterisk generates the set of the repository's
// configurations into a real Asterisk's sounds directory and plays every
// sound and a few numbers in every language on a channel through ARI:
// each playback must finish "done", and Asterisk must log no missing file
// (a number whose digits/ file is missing still finishes "done" in ru and
// pl, whose say.c functions ignore the failure).
func TestPlayEverySoundOnAsterisk(t *testing.T) {
	url, user, password := os.Getenv("HOTLINE_E2E_ARI_URL"), os.Getenv("HOTLINE_E2E_ARI_USER"), os.Getenv("HOTLINE_E2E_ARI_PASSWORD")
	astDir := os.Getenv("HOTLINE_E2E_ASTERISK_DIR")
	if url == "" || user == "" || password == "" || astDir == "" {
		t.Skip("no real Asterisk: set HOTLINE_E2E_ARI_URL, HOTLINE_E2E_ARI_USER, HOTLINE_E2E_ARI_PASSWORD and HOTLINE_E2E_ASTERISK_DIR (scripts/e2e-asterisk.sh up DIR writes them to DIR/env)")
	}
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install Debian's espeak-ng and sox", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// The set: every sound of both configurations, in the reference
	// configuration's languages.
	deploy := loadConfig(t, "../deploy/hotline.yaml")
	langs := languages(deploy)
	sounds := app.Sounds(deploy)
	for _, s := range app.Sounds(loadConfig(t, "../e2e/testdata/hotline.yaml")) {
		if !slices.Contains(sounds, s) {
			sounds = append(sounds, s)
		}
	}
	files, err := prompts.Plan(builtin(t), langs, sounds)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(astDir, "var", "lib", "asterisk", "sounds")
	install := func(core string) {
		t.Helper()
		res, err := prompts.Generate(ctx, files, prompts.Options{Dir: dir, CoreSounds: core})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("generated into %s (core sounds %q): %+v", dir, core, res.Langs)
		if len(res.Kept) > 0 {
			t.Logf("kept files not written by the generator: %v", res.Kept)
		}
		// Asterisk falls back to English for a file missing in a
		// language, so playing alone would not notice a gap: the disk is
		// checked too.
		if err := prompts.Check(dir, files); err != nil {
			t.Fatal(err)
		}
	}
	var numbers, all []playItem
	for _, lang := range langs {
		for _, n := range numbersPlayed {
			numbers = append(numbers, playItem{lang: lang, media: fmt.Sprintf("number:%d", n), secs: 3})
		}
	}
	for _, f := range files {
		if !f.Word {
			all = append(all, playItem{lang: f.Lang, media: "sound:" + f.Name})
		}
	}

	logPath := filepath.Join(astDir, "var", "log", "asterisk", "messages.log")
	logStart := fileSize(logPath)
	p := newPlayer(t, ctx, url, user, password)
	play := func(items []playItem) {
		t.Helper()
		for i := range items {
			if name, ok := strings.CutPrefix(items[i].media, "sound:"); ok {
				items[i].secs = 10
				if w, err := prompts.ReadWAV(filepath.Join(dir, items[i].lang, name+".wav")); err == nil {
					items[i].secs = float64(w.DataBytes) / 16000
				}
			}
		}
		for _, r := range p.playAll(ctx, items, 12) {
			if r.state != "done" {
				t.Errorf("%s %s: %s", r.lang, r.media, r.state)
			}
		}
		t.Logf("played %d sounds and numbers", len(items))
	}

	// Every number word synthesized, as on a machine without core sounds;
	// then, where Debian's core sounds are installed, with their digits.
	install("")
	play(slices.Clone(numbers))
	core := "/usr/share/asterisk/sounds"
	if _, err := os.Stat(filepath.Join(core, "en", "digits")); err != nil {
		t.Logf("no core sounds in %s: the set is tested with synthesized digits only", core)
		core = ""
	}
	install(core)
	play(append(all, numbers...))

	// Asterisk's logger writes asynchronously; give it a moment to catch up
	// with the last playback.
	time.Sleep(time.Second)
	for _, line := range logSince(t, logPath, logStart) {
		if strings.Contains(line, "does not exist in any format") || strings.Contains(line, "Unable to open") {
			t.Errorf("Asterisk: %s", line)
		}
	}
}

type playItem struct {
	lang, media string
	secs        float64 // expected duration
	state       string  // PlaybackFinished state, or why there is none
}

// player is a test ARI application: channels that enter it and the
// playbacks on them, by id.
type player struct {
	t      *testing.T
	client *ari.Client
	app    string

	mu       sync.Mutex
	started  map[string]chan struct{} // channel id → closed on StasisStart
	ended    map[string]chan struct{} // channel id → closed on StasisEnd
	finished map[string]chan string   // playback id → PlaybackFinished state
}

func newPlayer(t *testing.T, ctx context.Context, url, user, password string) *player {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	p := &player{
		t: t, app: "prompts-test-" + hex.EncodeToString(b[:]),
		started: map[string]chan struct{}{}, ended: map[string]chan struct{}{}, finished: map[string]chan string{},
	}
	connected := make(chan struct{}, 1)
	client, err := ari.New(ari.Options{
		URL: url, Application: p.app, Username: user, Password: password,
		Handler: p.handle,
		OnConnect: func(context.Context) {
			select {
			case connected <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	p.client = client
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- client.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		<-done
	})
	select {
	case <-connected:
	case err := <-done:
		t.Fatalf("ARI events: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("ARI events websocket not connected within 15s")
	}
	return p
}

// handle runs on the client's reader goroutine and never blocks: every
// channel it sends on is buffered for the one event it carries.
func (p *player) handle(ev ari.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev.Type {
	case "StasisStart":
		if ev.Channel != nil {
			closeOnce(p.started, ev.Channel.ID)
		}
	case "StasisEnd":
		if ev.Channel != nil {
			closeOnce(p.ended, ev.Channel.ID)
		}
	case "PlaybackFinished":
		if ev.Playback != nil {
			if ch, ok := p.finished[ev.Playback.ID]; ok {
				delete(p.finished, ev.Playback.ID)
				ch <- ev.Playback.State
			}
		}
	}
}

func closeOnce(m map[string]chan struct{}, id string) {
	if ch, ok := m[id]; ok {
		delete(m, id)
		close(ch)
	}
}

// playAll plays the items on n channels at once, longest first onto the
// least loaded channel, and returns them with their outcomes.
func (p *player) playAll(ctx context.Context, items []playItem, n int) []playItem {
	sort.SliceStable(items, func(i, j int) bool { return items[i].secs > items[j].secs })
	queues := make([][]int, n)
	load := make([]float64, n)
	for i, it := range items {
		k := 0
		for c := range load {
			if load[c] < load[k] {
				k = c
			}
		}
		queues[k] = append(queues[k], i)
		load[k] += it.secs
	}
	var wg sync.WaitGroup
	for c, q := range queues {
		if len(q) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Fixed width: Asterisk refuses a channel id that is a prefix of
			// a live channel's (get_by_uniqueid matches prefixes), as
			// -1 is of -10;2.
			p.playOn(ctx, fmt.Sprintf("%s-%03d", p.app, c), items, q)
		}()
	}
	wg.Wait()
	return items
}

// playOn originates one channel into the application (Local/100@agents:
// the other half answers and waits; the context's pattern _X. takes two
// digits or more, so not Local/1@agents) and plays its share of the items on
// it, one at a time, each wait bounded.
func (p *player) playOn(ctx context.Context, chID string, items []playItem, queue []int) {
	fail := func(why string) {
		for _, i := range queue {
			if items[i].state == "" {
				items[i].state = why
			}
		}
	}
	p.mu.Lock()
	started, ended := make(chan struct{}), make(chan struct{})
	p.started[chID], p.ended[chID] = started, ended
	p.mu.Unlock()
	if _, err := p.client.Originate(ctx, ari.OriginateRequest{ChannelID: chID, Endpoint: "Local/100@agents", App: p.app, Timeout: 10 * time.Second}); err != nil {
		fail("originate: " + err.Error())
		return
	}
	defer func() {
		hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.client.Hangup(hctx, chID, ""); err != nil && !errors.Is(err, ari.ErrCallGone) {
			p.t.Errorf("hang up %s: %v", chID, err)
		}
	}()
	select {
	case <-started:
	case <-ctx.Done():
		fail("no StasisStart: " + ctx.Err().Error())
		return
	case <-time.After(15 * time.Second):
		fail("no StasisStart within 15s")
		return
	}
	for k, i := range queue {
		it := &items[i]
		pbID := fmt.Sprintf("%s-pb%03d", chID, k)
		done := make(chan string, 1)
		p.mu.Lock()
		p.finished[pbID] = done
		p.mu.Unlock()
		if _, err := p.client.Play(ctx, chID, pbID, []string{it.media}, it.lang); err != nil {
			it.state = "play: " + err.Error()
			continue
		}
		limit := time.Duration(it.secs*float64(time.Second)) + 20*time.Second
		select {
		case st := <-done:
			it.state = st
		case <-ended:
			fail("channel left the application")
			return
		case <-ctx.Done():
			fail(ctx.Err().Error())
			return
		case <-time.After(limit):
			it.state = fmt.Sprintf("no PlaybackFinished within %v", limit)
		}
	}
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// logSince returns the lines added to a log after offset.
func logSince(t *testing.T, path string, offset int64) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("Asterisk log: %v", err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}
