package api

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hotline-project/hotline/routing"
)

//go:embed openapi.json
var openapiDoc []byte

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type readyJSON struct {
	Status string   `json:"status"`
	Failed []string `json:"failed,omitempty"`
}

// readyz runs every check under its own deadline so that one hung
// dependency reports as failed instead of hanging the probe.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	var failed []string
	for i, check := range s.opts.Ready {
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.ReadyTimeout)
		err := check(ctx)
		cancel()
		if err != nil {
			failed = append(failed, fmt.Sprintf("check %d: %v", i, err))
		}
	}
	if len(failed) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, readyJSON{Status: "unavailable", Failed: failed})
		return
	}
	writeJSON(w, http.StatusOK, readyJSON{Status: "ready"})
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.opts.Metrics == nil {
		writeError(w, http.StatusNotFound, "not_found", "metrics not configured")
		return
	}
	// promhttp reports its own failures in plain text.
	s.opts.Metrics.ServeHTTP(&jsonErrors{ResponseWriter: w, method: r.Method}, r)
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openapiDoc)
}

// --- who am I, topics

// me tells the page who the token belongs to, so it can choose the agent
// desk or the wallboard without probing what the token may do.
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	tok := tokenFrom(r)
	out := meJSON{Role: tok.Role, AgentID: tok.AgentID, Topics: []string{}}
	if tok.Role == RoleAgent && s.opts.Agents != nil {
		a, err := s.opts.Agents.Agent(r.Context(), tok.AgentID)
		if errors.Is(err, routing.ErrNotFound) {
			err = fmt.Errorf("the token's agent %s is not configured: %w", tok.AgentID, errForbidden)
		}
		if err != nil {
			s.fail(w, r, "me", err)
			return
		}
		out.Name = a.Name
		out.Topics = slices.Sorted(maps.Keys(a.Topics))
	}
	writeJSON(w, http.StatusOK, out)
}

// listTopics is the queue overview for every role: the wallboard shows
// it, and the transfer picker offers every topic from it, staffed or not
// (the router refuses an unstaffed one as target_unavailable, which the
// agent then sees). One stats read per topic plus one calls listing.
func (s *Server) listTopics(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	topics, err := s.opts.Topics(ctx)
	if err != nil {
		s.fail(w, r, "list topics", err)
		return
	}
	calls, err := s.opts.Calls.ActiveCalls(ctx)
	if err != nil {
		s.fail(w, r, "list topics", err)
		return
	}
	now := s.opts.Clock.Now()
	longest := map[string]time.Duration{}
	for _, c := range calls {
		if c.State != CallQueued || c.EnqueuedAt.IsZero() {
			continue
		}
		if d := now.Sub(c.EnqueuedAt); d > longest[c.Topic] {
			longest[c.Topic] = d
		}
	}
	out := make([]topicJSON, 0, len(topics))
	for _, tc := range topics {
		st, err := s.opts.Queues.TopicStats(ctx, tc.Name)
		if err != nil {
			s.fail(w, r, "list topics", err)
			return
		}
		out = append(out, topicJSON{
			Name: tc.Name, Description: tc.Description, Waiting: st.Queued,
			LongestWait:    seconds(longest[tc.Name]),
			EstimatedWait:  seconds(routing.Policy{WrapUp: tc.WrapUp, DefaultHandleTime: tc.HandleTime}.EstimateWait(tc.Name, st.Queued+1, st)),
			AgentsLoggedIn: st.AgentsLoggedIn, AgentsAvailable: st.AgentsAvailable,
		})
	}
	slices.SortFunc(out, func(a, b topicJSON) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, out)
}

// seconds rounds a duration to whole seconds for the JSON figures.
func seconds(d time.Duration) int64 { return int64(d.Round(time.Second) / time.Second) }

// --- agents

// listAgents shows every agent to every role: an agent's desk shows who
// is free to take a transfer. Changing state is what is restricted.
func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) {
	agents, err := s.opts.Agents.Agents(r.Context())
	if err != nil {
		s.fail(w, r, "list agents", err)
		return
	}
	writeJSON(w, http.StatusOK, viewAll(agents, agentView))
}

func (s *Server) getAgent(w http.ResponseWriter, r *http.Request) {
	a, err := s.opts.Agents.Agent(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, "get agent", err)
		return
	}
	writeJSON(w, http.StatusOK, agentView(a))
}

func (s *Server) setAgentState(w http.ResponseWriter, r *http.Request) {
	tok, id := tokenFrom(r), r.PathValue("id")
	if !tok.privileged() && tok.AgentID != id {
		s.fail(w, r, "set agent state", fmt.Errorf("an agent token may change only its own state: %w", errForbidden))
		return
	}
	var b stateBody
	if err := readJSON(w, r, s.opts.MaxBodyBytes, &b); err != nil {
		s.fail(w, r, "set agent state", err)
		return
	}
	if err := b.validate(); err != nil {
		s.fail(w, r, "set agent state", err)
		return
	}
	ctx := r.Context()
	var err error
	switch b.Action {
	case "login":
		err = s.opts.Agents.Login(ctx, id)
	case "pause":
		err = s.opts.Agents.Pause(ctx, id, b.Reason)
	case "resume":
		err = s.opts.Agents.Resume(ctx, id)
	case "logout":
		err = s.opts.Agents.Logout(ctx, id)
	}
	if err != nil {
		s.fail(w, r, b.Action, err)
		return
	}
	a, err := s.opts.Agents.Agent(ctx, id)
	if err != nil {
		s.fail(w, r, "get agent", err)
		return
	}
	writeJSON(w, http.StatusOK, agentView(a))
}

// --- calls

// offeredCall is the call an agent's status points at: the one ringing
// them, or the consult leg of a transfer to them.
func (s *Server) offeredCall(ctx context.Context, agentID string) string {
	if s.opts.Agents == nil {
		return ""
	}
	a, err := s.opts.Agents.Agent(ctx, agentID)
	if err != nil {
		return ""
	}
	return a.CallID
}

// mayTouch reports whether tok may see and act on c: seniors and admins
// always, an agent only while on the call or being offered/consulted on it.
func (s *Server) mayTouch(ctx context.Context, tok Token, c Call) bool {
	if tok.privileged() {
		return true
	}
	return c.AgentID == tok.AgentID || s.offeredCall(ctx, tok.AgentID) == c.ID
}

// call loads the call in the path and checks the caller's right to it.
func (s *Server) call(r *http.Request) (Call, error) {
	tok := tokenFrom(r)
	c, err := s.opts.Calls.Call(r.Context(), r.PathValue("id"))
	if err != nil {
		return Call{}, err
	}
	if !s.mayTouch(r.Context(), tok, c) {
		return Call{}, fmt.Errorf("call %s is not yours: %w", c.ID, errForbidden)
	}
	return c, nil
}

// actingAgent is the agent a call action is taken for: the token's agent,
// or, for a senior or admin acting on someone's call, the call's agent.
func actingAgent(tok Token, c Call) string {
	if tok.Role == RoleAgent {
		return tok.AgentID
	}
	return c.AgentID
}

// listCalls shows agents only their own calls; seniors see all.
func (s *Server) listCalls(w http.ResponseWriter, r *http.Request) {
	tok := tokenFrom(r)
	calls, err := s.opts.Calls.ActiveCalls(r.Context())
	if err != nil {
		s.fail(w, r, "list calls", err)
		return
	}
	if !tok.privileged() {
		offered := s.offeredCall(r.Context(), tok.AgentID)
		calls = slices.DeleteFunc(calls, func(c Call) bool {
			return c.AgentID != tok.AgentID && c.ID != offered
		})
	}
	writeJSON(w, http.StatusOK, viewAll(calls, callView))
}

func (s *Server) getCall(w http.ResponseWriter, r *http.Request) {
	c, err := s.call(r)
	if err != nil {
		s.fail(w, r, "get call", err)
		return
	}
	out := callView(c)
	if c.CaseID != "" {
		cs, err := s.opts.Cases.Case(r.Context(), c.CaseID)
		switch {
		case err == nil:
			v := caseView(cs)
			out.Case = &v
		case !errors.Is(err, routing.ErrNotFound):
			s.fail(w, r, "get case", err)
			return
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) setNote(w http.ResponseWriter, r *http.Request) {
	c, err := s.call(r)
	if err != nil {
		s.fail(w, r, "set note", err)
		return
	}
	var b noteBody
	if err := readJSON(w, r, s.opts.MaxBodyBytes, &b); err != nil {
		s.fail(w, r, "set note", err)
		return
	}
	note, err := b.validate()
	if err != nil {
		s.fail(w, r, "set note", err)
		return
	}
	if err := s.opts.Cases.SetNote(r.Context(), c.CaseID, note, tokenFrom(r).actor()); err != nil {
		s.fail(w, r, "set note", err)
		return
	}
	cs, err := s.opts.Cases.Case(r.Context(), c.CaseID)
	if err != nil {
		s.fail(w, r, "get case", err)
		return
	}
	writeJSON(w, http.StatusOK, caseView(cs))
}

func (s *Server) transfer(w http.ResponseWriter, r *http.Request) {
	c, err := s.call(r)
	if err != nil {
		s.fail(w, r, "transfer", err)
		return
	}
	var b transferBody
	if err := readJSON(w, r, s.opts.MaxBodyBytes, &b); err != nil {
		s.fail(w, r, "transfer", err)
		return
	}
	in, err := b.validate()
	if err != nil {
		s.fail(w, r, "transfer", err)
		return
	}
	t, err := s.opts.Control.Transfer(r.Context(), c.ID, actingAgent(tokenFrom(r), c), in.To, in.Note, in.Mode)
	if err != nil {
		s.fail(w, r, "transfer", err)
		return
	}
	writeJSON(w, http.StatusAccepted, transferView(t))
}

func (s *Server) completeTransfer(w http.ResponseWriter, r *http.Request) {
	s.transferAction(w, r, "complete transfer", s.opts.Control.CompleteTransfer)
}

func (s *Server) cancelTransfer(w http.ResponseWriter, r *http.Request) {
	s.transferAction(w, r, "cancel transfer", s.opts.Control.CancelTransfer)
}

func (s *Server) transferAction(w http.ResponseWriter, r *http.Request, op string, act func(ctx context.Context, callID, by string) error) {
	c, err := s.call(r)
	if err != nil {
		s.fail(w, r, op, err)
		return
	}
	if err := s.readEmpty(w, r); err != nil {
		s.fail(w, r, op, err)
		return
	}
	if err := act(r.Context(), c.ID, actingAgent(tokenFrom(r), c)); err != nil {
		s.fail(w, r, op, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// readEmpty accepts no body or an empty JSON object, for actions that take
// no parameters; anything else is a client mistake worth reporting.
func (s *Server) readEmpty(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("body larger than %d bytes: %w", tooBig.Limit, ErrBadRequest)
		}
		return fmt.Errorf("read body: %w", err)
	}
	if len(body) == 0 {
		return nil
	}
	return decodeBytes(body, &struct{}{})
}

func (s *Server) scheduleCallback(w http.ResponseWriter, r *http.Request) {
	c, err := s.call(r)
	if err != nil {
		s.fail(w, r, "schedule callback", err)
		return
	}
	var b callbackBody
	if err := readJSON(w, r, s.opts.MaxBodyBytes, &b); err != nil {
		s.fail(w, r, "schedule callback", err)
		return
	}
	in, err := b.validate(s.opts.Clock.Now())
	if err != nil {
		s.fail(w, r, "schedule callback", err)
		return
	}
	cb, err := s.opts.Control.ScheduleCallback(r.Context(), c.ID, actingAgent(tokenFrom(r), c), in.At, in.Note)
	if err != nil {
		s.fail(w, r, "schedule callback", err)
		return
	}
	writeJSON(w, http.StatusCreated, callbackView(cb))
}

// escalate hands the caller to the senior operators as a callback.
func (s *Server) escalate(w http.ResponseWriter, r *http.Request) {
	c, err := s.call(r)
	if err != nil {
		s.fail(w, r, "escalate", err)
		return
	}
	var b escalateBody
	if err := readJSON(w, r, s.opts.MaxBodyBytes, &b); err != nil {
		s.fail(w, r, "escalate", err)
		return
	}
	if err := checkText("note", b.Note, maxNoteLen); err != nil {
		s.fail(w, r, "escalate", err)
		return
	}
	cb, err := s.opts.Control.Escalate(r.Context(), c.ID, actingAgent(tokenFrom(r), c), b.Note)
	if err != nil {
		s.fail(w, r, "escalate", err)
		return
	}
	writeJSON(w, http.StatusCreated, callbackView(cb))
}

// --- callbacks, cases, requests

// ownerFilter applies "agents see only their own": an agent's listing is
// pinned to itself, and asking for someone else's is refused.
func ownerFilter(tok Token, asked, what string) (string, error) {
	if tok.privileged() {
		return asked, nil
	}
	if asked != "" && asked != tok.AgentID {
		return "", fmt.Errorf("an agent token lists only its own %s: %w", what, errForbidden)
	}
	return tok.AgentID, nil
}

func oneOf[T ~string](field, v string, allowed ...T) error {
	if v == "" || slices.Contains(allowed, T(v)) {
		return nil
	}
	return fieldErr(field, "must be one of %v", allowed)
}

func (s *Server) listCallbacks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := oneOf("state", q.Get("state"), CallbackScheduled, CallbackDialing, CallbackCompleted, CallbackFailed, CallbackEscalated); err != nil {
		s.fail(w, r, "list callbacks", err)
		return
	}
	owner, err := ownerFilter(tokenFrom(r), q.Get("owner"), "callbacks")
	if err != nil {
		s.fail(w, r, "list callbacks", err)
		return
	}
	cbs, err := s.opts.Callbacks.List(r.Context(), CallbackFilter{State: q.Get("state"), Owner: owner})
	if err != nil {
		s.fail(w, r, "list callbacks", err)
		return
	}
	writeJSON(w, http.StatusOK, viewAll(cbs, callbackView))
}

func (s *Server) getCallback(w http.ResponseWriter, r *http.Request) {
	tok := tokenFrom(r)
	cb, err := s.opts.Callbacks.Get(r.Context(), r.PathValue("id"))
	if err == nil && !tok.privileged() && cb.Owner != tok.AgentID {
		err = fmt.Errorf("callback %s is not yours: %w", cb.ID, errForbidden)
	}
	if err != nil {
		s.fail(w, r, "get callback", err)
		return
	}
	writeJSON(w, http.StatusOK, callbackView(cb))
}

func (s *Server) listCases(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := oneOf("status", q.Get("status"), routing.CaseOpen, routing.CaseClosed); err != nil {
		s.fail(w, r, "list cases", err)
		return
	}
	owner, err := ownerFilter(tokenFrom(r), q.Get("owner"), "cases")
	if err != nil {
		s.fail(w, r, "list cases", err)
		return
	}
	cases, err := s.opts.Cases.Cases(r.Context(), CaseFilter{Status: routing.CaseStatus(q.Get("status")), Owner: owner})
	if err != nil {
		s.fail(w, r, "list cases", err)
		return
	}
	writeJSON(w, http.StatusOK, viewAll(cases, caseView))
}

// getCase lets an agent see a case they own or talked on (a transfer
// target must read the case it was handed).
func (s *Server) getCase(w http.ResponseWriter, r *http.Request) {
	tok := tokenFrom(r)
	cs, err := s.opts.Cases.Case(r.Context(), r.PathValue("id"))
	if err == nil && !tok.privileged() && cs.Owner != tok.AgentID && !slices.Contains(cs.Agents, tok.AgentID) {
		err = fmt.Errorf("case %s is not yours: %w", cs.ID, errForbidden)
	}
	if err != nil {
		s.fail(w, r, "get case", err)
		return
	}
	writeJSON(w, http.StatusOK, caseView(cs))
}

func (s *Server) listRequests(w http.ResponseWriter, r *http.Request) {
	tok, q := tokenFrom(r), r.URL.Query()
	if err := oneOf("kind", q.Get("kind"), KindRequest, KindComplaint); err != nil {
		s.fail(w, r, "list requests", err)
		return
	}
	reqs, err := s.opts.Requests.List(r.Context(), RequestFilter{Kind: q.Get("kind"), State: q.Get("state")})
	if err != nil {
		s.fail(w, r, "list requests", err)
		return
	}
	if !tok.privileged() {
		// The requests list is the seniors'; an agent sees what they filed.
		reqs = slices.DeleteFunc(reqs, func(rq Request) bool { return rq.CreatedBy != tok.AgentID })
	}
	writeJSON(w, http.StatusOK, viewAll(reqs, requestView))
}

func (s *Server) getRequest(w http.ResponseWriter, r *http.Request) {
	tok := tokenFrom(r)
	req, err := s.opts.Requests.Get(r.Context(), r.PathValue("id"))
	if err == nil && !tok.privileged() && req.CreatedBy != tok.AgentID {
		err = fmt.Errorf("request %s is not yours: %w", req.ID, errForbidden)
	}
	if err != nil {
		s.fail(w, r, "get request", err)
		return
	}
	writeJSON(w, http.StatusOK, requestView(req))
}

// requestDone marks a request or complaint handled: the seniors' list is
// theirs to work through, so agents may not.
func (s *Server) requestDone(w http.ResponseWriter, r *http.Request) {
	tok := tokenFrom(r)
	if !tok.privileged() {
		s.fail(w, r, "request done", fmt.Errorf("only senior operators close requests: %w", errForbidden))
		return
	}
	if err := s.readEmpty(w, r); err != nil {
		s.fail(w, r, "request done", err)
		return
	}
	req, err := s.opts.Requests.Done(r.Context(), r.PathValue("id"), tok.actor())
	if err != nil {
		s.fail(w, r, "request done", err)
		return
	}
	if s.opts.Publish != nil {
		s.opts.Publish(RequestUpdate(req))
	}
	writeJSON(w, http.StatusOK, requestView(req))
}

func (s *Server) createRequest(w http.ResponseWriter, r *http.Request) {
	var b requestBody
	if err := readJSON(w, r, s.opts.MaxBodyBytes, &b); err != nil {
		s.fail(w, r, "create request", err)
		return
	}
	req, err := b.request(tokenFrom(r).actor())
	if err != nil {
		s.fail(w, r, "create request", err)
		return
	}
	req, err = s.opts.Requests.Create(r.Context(), req)
	if err != nil {
		s.fail(w, r, "create request", err)
		return
	}
	// Announced here, right after it is stored: the requests service has
	// no events of its own, and the seniors' list must not need polling.
	if s.opts.Publish != nil {
		s.opts.Publish(RequestUpdate(req))
	}
	writeJSON(w, http.StatusCreated, requestView(req))
}
