package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotline-project/hotline/ari"
)

// placer places the bench's callers: each a Local pair originated with
// formats=ulaw, whose own half waits in hlb-phone while the far half
// dials the system measured (Local/NUMBER@CONTEXT). Both halves get ids
// from the bench (hlbc-RUN-SEQ and hlbc-RUN-SEQ-in) and the caller number
// is derived from SEQ, so the observer needs no table to tell callers
// apart, and every caller of a run is a first-time caller.
type placer struct {
	ast   *Asterisk
	http  *http.Client
	run   string
	limit time.Duration // originate timeout: the far half must answer by then
	seq   atomic.Int64

	mu    sync.Mutex
	calls []string // ids of the own halves placed, in order
}

// placerConns bounds the load generator's connections to Asterisk: each
// is an HTTP session of Asterisk's (http.conf sessionlimit, 100 unless
// set), shared with the system measured.
const placerConns = 32

func newPlacer(a *Asterisk, run string, limit time.Duration) *placer {
	tr := &http.Transport{Proxy: nil, MaxConnsPerHost: placerConns, MaxIdleConnsPerHost: placerConns,
		IdleConnTimeout: 30 * time.Second}
	return &placer{ast: a, http: &http.Client{Transport: tr, Timeout: 10 * time.Second}, run: run, limit: limit}
}

// request is one REST call of the placer's.
func (p *placer) request(ctx context.Context, method, path string, q url.Values) error {
	u := strings.TrimSuffix(p.ast.URL, "/") + "/" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(p.ast.User, p.ast.Password)
	resp, err := p.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return ari.ErrCallGone
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// callerNumber of sequence number seq: unique within a run.
func benchCallerNumber(seq int64) string { return "38067" + fmt.Sprintf("%07d", seq) }

func (p *placer) ids(seq int64) (own, in string) {
	own = callerPrefix + p.run + "-" + strconv.FormatInt(seq, 10)
	return own, own + "-in"
}

// callerSeq parses the sequence number out of a caller channel id; in
// says it is the half inside the system measured.
func callerSeq(id string) (seq int64, in bool, ok bool) {
	rest, found := strings.CutPrefix(id, callerPrefix)
	if !found {
		return 0, false, false
	}
	rest, in = strings.CutSuffix(rest, "-in")
	i := strings.LastIndexByte(rest, '-')
	if i < 0 {
		return 0, false, false
	}
	n, err := strconv.ParseInt(rest[i+1:], 10, 64)
	return n, in, err == nil
}

// place originates one caller to endpoint.
func (p *placer) place(ctx context.Context, endpoint string) error {
	seq := p.seq.Add(1)
	own, in := p.ids(seq)
	p.mu.Lock()
	p.calls = append(p.calls, own)
	p.mu.Unlock()
	err := p.request(ctx, http.MethodPost, "channels", url.Values{
		"endpoint": {endpoint}, "channelId": {own}, "otherChannelId": {in},
		"context": {phoneContext}, "extension": {"s"}, "priority": {"1"},
		"callerId": {benchCallerNumber(seq)}, "formats": {"ulaw"},
		"timeout": {strconv.Itoa(int(p.limit / time.Second))},
	})
	if err != nil {
		return fmt.Errorf("place caller: %w", err)
	}
	return nil
}

// placed returns the own halves placed since the last call and forgets
// them.
func (p *placer) takePlaced() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.calls
	p.calls = nil
	return out
}

// hangup hangs up callers by the id of either half (gone ones are fine).
func (p *placer) hangup(ctx context.Context, ids []string) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := p.request(ctx, http.MethodDelete, "channels/"+url.PathEscape(id), nil); err != nil && !errors.Is(err, ari.ErrCallGone) {
				_ = err // the drain that follows says whether it is gone
			}
		}()
	}
	wg.Wait()
}

// ours lists the channels Asterisk has of the bench's (callers and
// agents' phones).
func (p *placer) ours(ctx context.Context) ([]string, error) {
	u := strings.TrimSuffix(p.ast.URL, "/") + "/channels"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(p.ast.User, p.ast.Password)
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	defer resp.Body.Close()
	var chans []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list channels: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&chans); err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	var out []string
	for _, c := range chans {
		if ours(c.ID, c.Name) {
			out = append(out, c.ID)
		}
	}
	return out, nil
}

// hangupAll hangs up every channel of the bench's (callers and agents'
// phones) the observer still sees.
func (p *placer) hangupAll(ctx context.Context, obs *Observer) {
	p.hangup(ctx, obs.LiveIDs())
}
