package api

import (
	"time"

	"github.com/hotline-project/hotline/routing"
)

// The JSON shapes of the API. They are declared apart from the domain types
// so that a field added in routing does not silently change the API, and so
// that the OpenAPI document has one place to agree with.

type agentJSON struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Endpoint   string         `json:"endpoint,omitempty"`
	Topics     map[string]int `json:"topics"`
	Senior     bool           `json:"senior"`
	State      string         `json:"state"`
	Reason     string         `json:"reason,omitempty"`
	Since      time.Time      `json:"since,omitzero"`
	IdleSince  time.Time      `json:"idle_since,omitzero"`
	CallID     string         `json:"call_id,omitempty"`
	PauseAfter string         `json:"pause_after,omitempty"`
}

func agentView(a routing.AgentStatus) agentJSON {
	topics := a.Topics
	if topics == nil {
		topics = map[string]int{}
	}
	return agentJSON{
		ID: a.ID, Name: a.Name, Endpoint: a.Endpoint, Topics: topics, Senior: a.Senior,
		State: string(a.State), Reason: a.Reason, Since: a.Since, IdleSince: a.IdleSince,
		CallID: a.CallID, PauseAfter: a.PauseAfter,
	}
}

type hopJSON struct {
	To string    `json:"to"`
	By string    `json:"by,omitempty"`
	At time.Time `json:"at,omitzero"`
}

func pathView(path []routing.Hop) []hopJSON {
	out := make([]hopJSON, 0, len(path))
	for _, h := range path {
		out = append(out, hopJSON{To: h.To.String(), By: h.By, At: h.At})
	}
	return out
}

type caseJSON struct {
	ID           string    `json:"id"`
	CallerNumber string    `json:"caller_number"`
	Topic        string    `json:"topic"`
	Lang         string    `json:"lang,omitempty"`
	Note         string    `json:"note"`
	Owner        string    `json:"owner,omitempty"`
	Status       string    `json:"status"`
	Path         []hopJSON `json:"path"`
	Agents       []string  `json:"agents"`
	Rating       int       `json:"rating,omitempty"`
	RatedBy      string    `json:"rated_by,omitempty"`
	CreatedAt    time.Time `json:"created_at,omitzero"`
	UpdatedAt    time.Time `json:"updated_at,omitzero"`
}

func caseView(c routing.Case) caseJSON {
	agents := c.Agents
	if agents == nil {
		agents = []string{}
	}
	return caseJSON{
		ID: c.ID, CallerNumber: c.CallerNumber, Topic: c.Topic, Lang: c.Lang, Note: c.Note,
		Owner: c.Owner, Status: string(c.Status), Path: pathView(c.Path), Agents: agents,
		Rating: c.Rating, RatedBy: c.RatedBy, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
}

type callJSON struct {
	ID           string    `json:"id"`
	CaseID       string    `json:"case_id"`
	Topic        string    `json:"topic"`
	CallerNumber string    `json:"caller_number"`
	Lang         string    `json:"lang,omitempty"`
	Node         string    `json:"node,omitempty"`
	AgentID      string    `json:"agent_id,omitempty"`
	State        string    `json:"state"`
	EnqueuedAt   time.Time `json:"enqueued_at,omitzero"`
	CallbackID   string    `json:"callback_id,omitempty"`
	Case         *caseJSON `json:"case,omitempty"` // only on GET /calls/{id}
}

func callView(c Call) callJSON {
	return callJSON{
		ID: c.ID, CaseID: c.CaseID, Topic: c.Topic, CallerNumber: c.CallerNumber, Lang: c.Lang,
		Node: c.Node, AgentID: c.AgentID, State: string(c.State), EnqueuedAt: c.EnqueuedAt,
		CallbackID: c.CallbackID,
	}
}

type transferJSON struct {
	ID        string    `json:"id"`
	CallID    string    `json:"call_id"`
	By        string    `json:"by"`
	To        string    `json:"to"`
	Target    agentJSON `json:"target"`
	Converted bool      `json:"converted"`
	Path      []hopJSON `json:"path"`
}

func transferView(t Transfer) transferJSON {
	return transferJSON{
		ID: t.ID, CallID: t.CallID, By: t.By, To: t.To.String(), Target: agentView(t.Target),
		Converted: t.Converted, Path: pathView(t.Path),
	}
}

type callbackJSON struct {
	ID          string    `json:"id"`
	CaseID      string    `json:"case_id"`
	Number      string    `json:"number"`
	Topic       string    `json:"topic"`
	Lang        string    `json:"lang,omitempty"`
	Owner       string    `json:"owner,omitempty"`
	Note        string    `json:"note"`
	Kind        string    `json:"kind"`
	State       string    `json:"state"`
	DueAt       time.Time `json:"due_at,omitzero"`
	Deadline    time.Time `json:"deadline,omitzero"`
	Attempts    int       `json:"attempts"`
	MaxAttempts int       `json:"max_attempts"`
	LeaseNode   string    `json:"lease_node,omitempty"`
	LeaseUntil  time.Time `json:"lease_until,omitzero"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
}

func callbackView(c Callback) callbackJSON {
	return callbackJSON{
		ID: c.ID, CaseID: c.CaseID, Number: c.Number, Topic: c.Topic, Lang: c.Lang, Owner: c.Owner,
		Note: c.Note, Kind: string(c.Kind), State: string(c.State), DueAt: c.DueAt, Deadline: c.Deadline,
		Attempts: c.Attempts, MaxAttempts: c.MaxAttempts, LeaseNode: c.LeaseNode, LeaseUntil: c.LeaseUntil,
		CreatedAt: c.CreatedAt,
	}
}

type requestJSON struct {
	ID           string    `json:"id"`
	Kind         string    `json:"kind"`
	State        string    `json:"state"`
	CaseID       string    `json:"case_id,omitempty"`
	City         string    `json:"city,omitempty"`
	Organisation string    `json:"organisation,omitempty"`
	Position     string    `json:"position,omitempty"`
	FullName     string    `json:"full_name"`
	ContactPhone string    `json:"contact_phone"`
	Purpose      string    `json:"purpose,omitempty"`
	FailedNumber string    `json:"failed_number,omitempty"`
	FoundAt      string    `json:"found_at,omitempty"`
	CreatedBy    string    `json:"created_by"`
	CreatedAt    time.Time `json:"created_at,omitzero"`
	DoneBy       string    `json:"done_by,omitempty"`
	DoneAt       time.Time `json:"done_at,omitzero"`
}

func requestView(r Request) requestJSON {
	return requestJSON{
		ID: r.ID, Kind: string(r.Kind), State: r.State, CaseID: r.CaseID, City: r.City,
		Organisation: r.Organisation, Position: r.Position, FullName: r.FullName,
		ContactPhone: r.Phone, Purpose: r.Purpose, FailedNumber: r.FailedNumber,
		FoundAt: r.FoundWhere, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt,
		DoneBy: r.DoneBy, DoneAt: r.DoneAt,
	}
}

// viewAll maps a slice, never returning nil so lists encode as [].
func viewAll[T, V any](in []T, view func(T) V) []V {
	out := make([]V, 0, len(in))
	for _, x := range in {
		out = append(out, view(x))
	}
	return out
}

// meJSON is GET /me: who the token is. Topics are the agent's, sorted;
// empty for senior and admin tokens, which see every topic.
type meJSON struct {
	Role    string   `json:"role"`
	AgentID string   `json:"agent_id,omitempty"`
	Name    string   `json:"name,omitempty"`
	Topics  []string `json:"topics"`
}

// topicJSON is one entry of GET /topics. Waits are whole seconds; the
// estimate is for a caller who would join the queue now, zero until the
// topic has a handle time or while nobody is logged in for it.
type topicJSON struct {
	Name            string `json:"name"`
	Description     string `json:"description,omitempty"`
	Waiting         int    `json:"waiting"`
	LongestWait     int64  `json:"longest_wait_seconds"`
	EstimatedWait   int64  `json:"estimated_wait_seconds"`
	AgentsLoggedIn  int    `json:"agents_logged_in"`
	AgentsAvailable int    `json:"agents_available"`
}
