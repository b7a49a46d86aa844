package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// RequestKind says what an agent recorded for the senior operators.
type RequestKind string

// Request kinds (docs/behaviour.md, Requests).
const (
	// KindRequest is a non-target call: a vendor, advertiser, official.
	KindRequest RequestKind = "request"
	// KindComplaint is a complaint about reaching the hotline: the number
	// that failed and where the caller found it.
	KindComplaint RequestKind = "complaint"
)

// Request states.
const (
	RequestNew  = "new"
	RequestDone = "done"
)

// Request is a non-target call or a complaint, recorded by an agent for the
// senior operators' list.
type Request struct {
	ID                                     string
	Kind                                   RequestKind
	City, Organisation, Position, FullName string
	Phone, Purpose                         string
	FailedNumber, FoundWhere               string // complaints
	CaseID, CreatedBy                      string
	CreatedAt                              time.Time
	State                                  string // RequestNew or RequestDone
	DoneBy                                 string
	DoneAt                                 time.Time
}

// RequestFilter selects requests for List; empty fields match all.
type RequestFilter struct {
	Kind, State string
}

// Match reports whether r passes the filter.
func (f RequestFilter) Match(r Request) bool {
	return (f.Kind == "" || string(r.Kind) == f.Kind) && (f.State == "" || r.State == f.State)
}

// ErrInvalid is wrapped by every ValidationError.
var ErrInvalid = errors.New("invalid")

// ValidationError names the field that is missing or malformed, so the API
// can tell the agent which box to fix.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// maxRequestField bounds every free-text field, in characters (not bytes:
// Cyrillic takes two bytes a letter); a request is a note for a person, not
// a document store.
const maxRequestField = 500

// Validate checks the fields required for r's kind: a request needs city,
// organisation, position, full name, phone and purpose; a complaint needs
// the failed number, where it was found, and the caller's name and phone.
// Every request needs the agent who recorded it. A request carries none of
// a complaint's fields. Field names are Request's, in snake case; the API
// maps them to its JSON keys.
func (r Request) Validate() error {
	var required []string
	switch r.Kind {
	case KindRequest:
		required = []string{"city", "organisation", "position", "full_name", "phone", "purpose", "created_by"}
	case KindComplaint:
		required = []string{"failed_number", "found_where", "full_name", "phone", "created_by"}
	default:
		return &ValidationError{Field: "kind", Reason: `must be "request" or "complaint"`}
	}
	fields := r.fields()
	if r.Kind == KindRequest {
		for _, name := range []string{"failed_number", "found_where"} {
			if fields[name] != "" {
				return &ValidationError{Field: name, Reason: "only for complaints"}
			}
		}
	}
	for _, name := range required {
		if strings.TrimSpace(fields[name]) == "" {
			return &ValidationError{Field: name, Reason: "required"}
		}
	}
	for _, name := range requestFieldOrder {
		v := fields[name]
		if !utf8.ValidString(v) {
			return &ValidationError{Field: name, Reason: "not valid UTF-8"}
		}
		if utf8.RuneCountInString(v) > maxRequestField {
			return &ValidationError{Field: name, Reason: fmt.Sprintf("longer than %d characters", maxRequestField)}
		}
		if strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }) {
			return &ValidationError{Field: name, Reason: "contains control characters"}
		}
	}
	for _, name := range []string{"phone", "failed_number"} {
		if v := fields[name]; v != "" && !IsPhoneNumber(v) {
			return &ValidationError{Field: name, Reason: "not a phone number"}
		}
	}
	return nil
}

// requestFieldOrder is the order Validate reports problems in, the order of
// the agent desk's form.
var requestFieldOrder = []string{"city", "organisation", "position", "full_name", "phone", "purpose", "failed_number", "found_where", "case_id", "created_by"}

func (r Request) fields() map[string]string {
	return map[string]string{
		"city": r.City, "organisation": r.Organisation, "position": r.Position,
		"full_name": r.FullName, "phone": r.Phone, "purpose": r.Purpose,
		"failed_number": r.FailedNumber, "found_where": r.FoundWhere,
		"case_id": r.CaseID, "created_by": r.CreatedBy,
	}
}

// IsPhoneNumber accepts what people write for a number: digits with an
// optional leading +, spaces, dashes, dots and parentheses; 3 to 20 digits.
func IsPhoneNumber(s string) bool {
	s = strings.TrimSpace(s)
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0:
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return false
		}
	}
	return digits >= 3 && digits <= 20
}

// RequestStore keeps requests.
type RequestStore interface {
	CreateRequest(ctx context.Context, r Request) error
	GetRequest(ctx context.Context, id string) (Request, error)
	// ListRequests returns matching requests, newest first.
	ListRequests(ctx context.Context, f RequestFilter) ([]Request, error)
	// MarkRequestDone sets state done; ErrNotFound if there is no such
	// request. Marking a done request again changes nothing.
	MarkRequestDone(ctx context.Context, id, by string, at time.Time) (Request, error)
}

// RequestOptions configure the Requests service.
type RequestOptions struct {
	Clock  Clock
	Logger *slog.Logger
	// OnCreate is called after a request is stored (for metrics). Must not
	// block.
	OnCreate func(Request)
}

// Requests records non-target calls and complaints for the seniors' list.
type Requests struct {
	store RequestStore
	opts  RequestOptions
	log   *slog.Logger
}

// NewRequests wires the service.
func NewRequests(store RequestStore, opts RequestOptions) *Requests {
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.OnCreate == nil {
		opts.OnCreate = func(Request) {}
	}
	return &Requests{store: store, opts: opts, log: opts.Logger} // the wiring names the component
}

// Create validates r, gives it an id, creation time and state new, and
// stores it. Validation failures are *ValidationError (errors.Is ErrInvalid).
func (s *Requests) Create(ctx context.Context, r Request) (Request, error) {
	if err := r.Validate(); err != nil {
		return Request{}, fmt.Errorf("create request: %w", err)
	}
	r.ID = "rq-" + newID()
	r.CreatedAt = s.opts.Clock.Now()
	r.State = RequestNew
	r.DoneBy, r.DoneAt = "", time.Time{}
	if err := s.store.CreateRequest(ctx, r); err != nil {
		return Request{}, fmt.Errorf("create request: %w", err)
	}
	s.log.Info("request recorded", "request", r.ID, "kind", r.Kind, "by", r.CreatedBy)
	s.opts.OnCreate(r)
	return r, nil
}

// Get returns one request; ErrNotFound if there is none.
func (s *Requests) Get(ctx context.Context, id string) (Request, error) {
	r, err := s.store.GetRequest(ctx, id)
	if err != nil {
		return Request{}, fmt.Errorf("get request %s: %w", id, err)
	}
	return r, nil
}

// List returns requests matching f, newest first.
func (s *Requests) List(ctx context.Context, f RequestFilter) ([]Request, error) {
	rs, err := s.store.ListRequests(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	return rs, nil
}

// Done marks a request handled by a senior operator.
func (s *Requests) Done(ctx context.Context, id, by string) (Request, error) {
	r, err := s.store.MarkRequestDone(ctx, id, by, s.opts.Clock.Now())
	if err != nil {
		return Request{}, fmt.Errorf("mark request %s done: %w", id, err)
	}
	return r, nil
}
