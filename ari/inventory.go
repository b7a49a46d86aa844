package ari

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/coder/websocket"
)

// What Asterisk has: the read-only calls `hotline check --ari` makes to
// compare an Asterisk with a configuration. Every one is a GET (or, for
// ProbeEvents, a websocket opened under another application name and closed
// again), so all of them are safe to retry and safe against a live system.

// Sound is one sound file Asterisk can play as sound:ID ("hotline-closed",
// "digits/7"), with the languages and formats it is installed in (GET
// /sounds). Asterisk lists only files under sounds/<language>/.
type Sound struct {
	ID      string
	Formats []SoundFormat
}

// SoundFormat is one installed copy of a sound.
type SoundFormat struct {
	Language, Format string
}

// Endpoint is an endpoint Asterisk knows (GET /endpoints): Technology
// "PJSIP", Resource "101". State is "online", "offline" or "unknown"; for
// PJSIP, online means some contact is registered and reachable.
type Endpoint struct {
	Technology, Resource, State string
	ChannelIDs                  []string
}

// AsteriskInfo is what GET /asterisk/info tells of the system.
type AsteriskInfo struct {
	Version         string // "22.10.1"
	EntityID        string
	DefaultLanguage string
}

// Module is a loaded Asterisk module (GET /asterisk/modules): Name as
// Asterisk lists it ("res_pjsip.so"), Status "Running" or "Not Running".
type Module struct {
	Name, Description, Status, SupportLevel string
	UseCount                                int
}

// Application is a Stasis application registered now (GET /applications):
// one with an events websocket connected.
type Application struct {
	Name                                          string
	ChannelIDs, BridgeIDs, EndpointIDs, DeviceIDs []string
}

type wireSound struct {
	ID      string `json:"id"`
	Formats []struct {
		Language string `json:"language"`
		Format   string `json:"format"`
	} `json:"formats"`
}

type wireEndpoint struct {
	Technology string   `json:"technology"`
	Resource   string   `json:"resource"`
	State      string   `json:"state"`
	ChannelIDs []string `json:"channel_ids"`
}

type wireInfo struct {
	System struct {
		Version  string `json:"version"`
		EntityID string `json:"entity_id"`
	} `json:"system"`
	Config struct {
		DefaultLanguage string `json:"default_language"`
	} `json:"config"`
}

type wireModule struct {
	Name         string `json:"name"`
	Description  string `json:"description"`
	UseCount     int    `json:"use_count"`
	Status       string `json:"status"`
	SupportLevel string `json:"support_level"`
}

type wireApplication struct {
	Name        string   `json:"name"`
	ChannelIDs  []string `json:"channel_ids"`
	BridgeIDs   []string `json:"bridge_ids"`
	EndpointIDs []string `json:"endpoint_ids"`
	DeviceNames []string `json:"device_names"`
}

// Sounds lists every sound Asterisk has, in every language. Asterisk walks
// its sounds directory for each request, so a file installed a moment ago
// is listed. Retry is safe.
func (c *Client) Sounds(ctx context.Context) ([]Sound, error) {
	var ws []wireSound
	if err := c.do(ctx, call{op: "list sounds", method: http.MethodGet, path: []string{"sounds"}, out: &ws}); err != nil {
		return nil, err
	}
	out := make([]Sound, 0, len(ws))
	for _, w := range ws {
		if w.ID == "" {
			return nil, fmt.Errorf("list sounds: decode response: sound without id: %w", ErrMalformedEvent)
		}
		s := Sound{ID: w.ID, Formats: make([]SoundFormat, 0, len(w.Formats))}
		for _, f := range w.Formats {
			s.Formats = append(s.Formats, SoundFormat{Language: f.Language, Format: f.Format})
		}
		out = append(out, s)
	}
	return out, nil
}

// Endpoints lists every endpoint of every technology. Retry is safe.
func (c *Client) Endpoints(ctx context.Context) ([]Endpoint, error) {
	var ws []wireEndpoint
	if err := c.do(ctx, call{op: "list endpoints", method: http.MethodGet, path: []string{"endpoints"}, out: &ws}); err != nil {
		return nil, err
	}
	out := make([]Endpoint, 0, len(ws))
	for _, w := range ws {
		if w.Technology == "" || w.Resource == "" {
			return nil, fmt.Errorf("list endpoints: decode response: endpoint without technology or resource: %w", ErrMalformedEvent)
		}
		out = append(out, Endpoint{Technology: w.Technology, Resource: w.Resource, State: w.State, ChannelIDs: w.ChannelIDs})
	}
	return out, nil
}

// Info returns Asterisk's version and system identity. It is the cheapest
// authenticated request, so it also tells whether the ARI user is accepted
// (a 401 *HTTPError if not). Retry is safe.
func (c *Client) Info(ctx context.Context) (AsteriskInfo, error) {
	var w wireInfo
	if err := c.do(ctx, call{op: "asterisk info", method: http.MethodGet, path: []string{"asterisk", "info"}, out: &w}); err != nil {
		return AsteriskInfo{}, err
	}
	if w.System.Version == "" {
		return AsteriskInfo{}, fmt.Errorf("asterisk info: decode response: no system.version: %w", ErrMalformedEvent)
	}
	return AsteriskInfo{Version: w.System.Version, EntityID: w.System.EntityID, DefaultLanguage: w.Config.DefaultLanguage}, nil
}

// Modules lists the modules Asterisk has loaded; one that is not loaded is
// not listed. Retry is safe.
func (c *Client) Modules(ctx context.Context) ([]Module, error) {
	var ws []wireModule
	if err := c.do(ctx, call{op: "list modules", method: http.MethodGet, path: []string{"asterisk", "modules"}, out: &ws}); err != nil {
		return nil, err
	}
	out := make([]Module, 0, len(ws))
	for _, w := range ws {
		out = append(out, Module{Name: w.Name, Description: w.Description, Status: w.Status, SupportLevel: w.SupportLevel, UseCount: w.UseCount})
	}
	return out, nil
}

// Applications lists the Stasis applications registered now, ours among
// them while the daemon is connected. Retry is safe.
func (c *Client) Applications(ctx context.Context) ([]Application, error) {
	var ws []wireApplication
	if err := c.do(ctx, call{op: "list applications", method: http.MethodGet, path: []string{"applications"}, out: &ws}); err != nil {
		return nil, err
	}
	out := make([]Application, 0, len(ws))
	for _, w := range ws {
		out = append(out, Application{Name: w.Name, ChannelIDs: w.ChannelIDs, BridgeIDs: w.BridgeIDs,
			EndpointIDs: w.EndpointIDs, DeviceIDs: w.DeviceNames})
	}
	return out, nil
}

// ErrOwnApplication is returned by ProbeEvents for the client's own
// application name: a second websocket under it would replace the running
// daemon's (ApplicationReplaced).
var ErrOwnApplication = errors.New("probe under the client's own application would replace its connection")

// ErrUncleanClose is wrapped by ProbeEvents when the websocket opened but
// the close handshake failed: events would flow, and Asterisk logs the
// connection as closed abruptly.
var ErrUncleanClose = errors.New("events websocket not closed cleanly")

// ProbeEvents opens the events websocket as application app, which must
// not be the client's own (ErrOwnApplication), and closes it at once with
// a close handshake, so Asterisk neither keeps the application nor logs the
// missing handshake. It tells whether the daemon could receive events with
// these credentials and URL. A refused upgrade is an *HTTPError (401: the
// user was rejected); a failed close handshake after a good upgrade wraps
// ErrUncleanClose. Connecting is bounded by the dial timeout, the close
// handshake by five seconds. Retry is safe.
func (c *Client) ProbeEvents(ctx context.Context, app string) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("probe events %s: %w", app, err)
		}
	}()
	switch {
	case app == "":
		return errEmptyID
	case app == c.opts.Application:
		return ErrOwnApplication
	}
	u, err := url.Parse(c.wsURL)
	if err != nil {
		return fmt.Errorf("events url: %w", err)
	}
	q := u.Query()
	q.Set("app", app)
	u.RawQuery = q.Encode()

	dialCtx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	conn, resp, err := websocket.Dial(dialCtx, u.String(), &websocket.DialOptions{
		HTTPClient: c.wsHTTP,
		HTTPHeader: http.Header{"Authorization": {c.authValue}},
	})
	if err != nil {
		// As in session: the error holds the URL at most, never the
		// credentials, which travel in a header.
		if resp != nil && resp.StatusCode/100 != 1 {
			return &HTTPError{Status: resp.StatusCode, Message: http.StatusText(resp.StatusCode)}
		}
		return err
	}
	defer conn.CloseNow()
	if err := conn.Close(websocket.StatusNormalClosure, "probe"); err != nil {
		return fmt.Errorf("%w: %w", ErrUncleanClose, err)
	}
	return nil
}
