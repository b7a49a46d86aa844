package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// httpTimeout bounds one API request of the script: the daemon is local.
const httpTimeout = 5 * time.Second

// apiError is a non-2xx answer of the hotline API.
type apiError struct {
	Status  int
	Code    string   `json:"error"`
	Message string   `json:"message"`
	Path    []string `json:"path"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// refusal returns the refusal code of a 409 answer, or "".
func refusal(err error) string {
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		return ae.Code
	}
	return ""
}

func notFound(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// apiClient is how the scripted agents use the hotline: through its HTTP
// API with their own tokens, as a desk would. It has its own transport so
// Stop can close its idle connections (and their goroutines).
type apiClient struct {
	base string
	tr   *http.Transport
	http *http.Client
}

func newAPIClient(base string) *apiClient {
	tr := &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}
	return &apiClient{base: base, tr: tr, http: &http.Client{Transport: tr, Timeout: httpTimeout}}
}

func (c *apiClient) close() { c.tr.CloseIdleConnections() }

// do sends one request; out (if not nil) receives a 2xx JSON body.
func (c *apiClient) do(ctx context.Context, token, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		ae := &apiError{Status: resp.StatusCode}
		_ = json.Unmarshal(data, ae) // a body that is not JSON leaves the status alone
		return fmt.Errorf("%s %s: %w", method, path, ae)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

// agentView and callView are the parts of the API's answers the script
// reads.
type agentView struct {
	ID     string         `json:"id"`
	State  string         `json:"state"`
	Reason string         `json:"reason"`
	CallID string         `json:"call_id"`
	Topics map[string]int `json:"topics"`
}

type hopView struct {
	To string `json:"to"` // "topic:audit" or "agent:101"
	By string `json:"by"`
}

type callView struct {
	ID      string `json:"id"`
	CaseID  string `json:"case_id"`
	Topic   string `json:"topic"`
	AgentID string `json:"agent_id"`
	State   string `json:"state"`
	Case    *struct {
		Path []hopView `json:"path"`
	} `json:"case"`
}

func (c *apiClient) agent(ctx context.Context, token, id string) (agentView, error) {
	var a agentView
	err := c.do(ctx, token, http.MethodGet, "/api/v1/agents/"+id, nil, &a)
	return a, err
}

func (c *apiClient) agents(ctx context.Context, token string) ([]agentView, error) {
	var as []agentView
	err := c.do(ctx, token, http.MethodGet, "/api/v1/agents", nil, &as)
	return as, err
}

func (c *apiClient) setState(ctx context.Context, token, id, action, reason string) error {
	return c.do(ctx, token, http.MethodPost, "/api/v1/agents/"+id+"/state",
		map[string]string{"action": action, "reason": reason}, nil)
}

func (c *apiClient) call(ctx context.Context, token, id string) (callView, error) {
	var v callView
	err := c.do(ctx, token, http.MethodGet, "/api/v1/calls/"+id, nil, &v)
	return v, err
}

func (c *apiClient) setNote(ctx context.Context, token, callID, note string) error {
	return c.do(ctx, token, http.MethodPut, "/api/v1/calls/"+callID+"/note", map[string]string{"note": note}, nil)
}

func (c *apiClient) transfer(ctx context.Context, token, callID, to, note string) error {
	return c.do(ctx, token, http.MethodPost, "/api/v1/calls/"+callID+"/transfer",
		map[string]string{"to": to, "note": note, "mode": "attended"}, nil)
}

func (c *apiClient) callback(ctx context.Context, token, callID string, in time.Duration, note string) error {
	return c.do(ctx, token, http.MethodPost, "/api/v1/calls/"+callID+"/callback",
		map[string]string{"in": in.String(), "note": note}, nil)
}

// request is a non-customer call recorded for the senior operators
// (docs/behaviour.md, Requests).
type request struct {
	Kind         string `json:"kind"`
	CaseID       string `json:"case_id,omitempty"`
	City         string `json:"city"`
	Organisation string `json:"organisation"`
	Position     string `json:"position"`
	FullName     string `json:"full_name"`
	ContactPhone string `json:"contact_phone"`
	Purpose      string `json:"purpose"`
}

func (c *apiClient) createRequest(ctx context.Context, token string, r request) error {
	return c.do(ctx, token, http.MethodPost, "/api/v1/requests", r, nil)
}
