package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hotline-project/hotline/routing"
)

// DefaultMaxBodyBytes bounds a request body unless Options says otherwise.
const DefaultMaxBodyBytes = 64 << 10

// Limits on individual fields; a body limit alone would let one field fill
// a Redis hash with 64 KiB of text.
const (
	maxNoteLen    = 4000
	maxFieldLen   = 200
	maxCallbackIn = 30 * 24 * time.Hour
)

// ErrBadRequest wraps every problem with a request's body or parameters.
var ErrBadRequest = errors.New("bad request")

// FieldError is a validation error that names the offending field.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Unwrap lets callers test errors.Is(err, ErrBadRequest).
func (e *FieldError) Unwrap() error { return ErrBadRequest }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// readJSON checks the content type, bounds the body and decodes it strictly
// into dst: unknown fields and trailing data are errors.
func readJSON(w http.ResponseWriter, r *http.Request, limit int64, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" || r.ContentLength != 0 {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return fmt.Errorf("content type must be application/json: %w", ErrBadRequest)
		}
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	if err := decodeJSON(body, dst); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("body larger than %d bytes: %w", tooBig.Limit, ErrBadRequest)
		}
		return err
	}
	return nil
}

// decodeJSON decodes exactly one JSON object from r into dst.
func decodeJSON(r io.Reader, dst any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return err
		case errors.Is(err, io.EOF):
			return fmt.Errorf("empty body: %w", ErrBadRequest)
		}
		return fmt.Errorf("malformed JSON: %s: %w", jsonProblem(err), ErrBadRequest)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return fmt.Errorf("trailing data after the JSON object: %w", ErrBadRequest)
	}
	return nil
}

// jsonProblem renders a decoder error without echoing large input back.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be %s", typ.Field, typ.Type)
		}
		return fmt.Sprintf("body must be %s", typ.Type)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of body"
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}

// checkText validates a free-text field's length and encoding.
func checkText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return fieldErr(field, "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fieldErr(field, "longer than %d characters", max)
	}
	return nil
}

// --- POST /agents/{id}/state

type stateBody struct {
	Action string `json:"action"`
	Reason string `json:"reason"`
}

func (b stateBody) validate() error {
	switch b.Action {
	case "login", "resume", "logout":
		if b.Reason != "" {
			return fieldErr("reason", "only pause takes a reason")
		}
	case "pause":
		if strings.TrimSpace(b.Reason) == "" {
			return fieldErr("reason", "required for pause")
		}
		return checkText("reason", b.Reason, maxFieldLen)
	case "":
		return fieldErr("action", "required")
	default:
		return fieldErr("action", "must be login, pause, resume or logout")
	}
	return nil
}

// --- PUT /calls/{id}/note

type noteBody struct {
	Note *string `json:"note"`
}

func (b noteBody) validate() (string, error) {
	if b.Note == nil {
		return "", fieldErr("note", "required")
	}
	return *b.Note, checkText("note", *b.Note, maxNoteLen)
}

// --- POST /calls/{id}/transfer

type transferBody struct {
	To   string `json:"to"`
	Note string `json:"note"`
	Mode string `json:"mode"`
}

type transferInput struct {
	To   routing.Destination
	Note string
	Mode routing.TransferMode
}

// validate checks the shape only; whether the note is long enough is the
// transfer policy's decision and comes back as a note_required refusal.
func (b transferBody) validate() (transferInput, error) {
	if b.To == "" {
		return transferInput{}, fieldErr("to", "required")
	}
	to, err := routing.ParseDestination(b.To)
	if err != nil {
		return transferInput{}, fieldErr("to", "must be topic:NAME or agent:ID")
	}
	if err := checkText("note", b.Note, maxNoteLen); err != nil {
		return transferInput{}, err
	}
	mode := routing.TransferMode(b.Mode)
	switch mode {
	case "":
		mode = routing.ModeAttended
	case routing.ModeAttended, routing.ModeBlind:
	default:
		return transferInput{}, fieldErr("mode", "must be attended or blind")
	}
	return transferInput{To: to, Note: b.Note, Mode: mode}, nil
}

// --- POST /calls/{id}/escalate

type escalateBody struct {
	Note string `json:"note"`
}

// --- POST /calls/{id}/callback

type callbackBody struct {
	At   string `json:"at"`
	In   string `json:"in"`
	Note string `json:"note"`
}

type callbackInput struct {
	At   time.Time
	Note string
}

// validate resolves "at" or "in" against now; the time must be ahead.
func (b callbackBody) validate(now time.Time) (callbackInput, error) {
	if err := checkText("note", b.Note, maxNoteLen); err != nil {
		return callbackInput{}, err
	}
	var at time.Time
	switch {
	case b.At != "" && b.In != "":
		return callbackInput{}, fieldErr("at", "give either at or in, not both")
	case b.At != "":
		t, err := time.Parse(time.RFC3339, b.At)
		if err != nil {
			return callbackInput{}, fieldErr("at", "must be an RFC 3339 time")
		}
		if !t.After(now) {
			return callbackInput{}, fieldErr("at", "must be in the future")
		}
		if t.Sub(now) > maxCallbackIn {
			return callbackInput{}, fieldErr("at", "more than %s ahead", maxCallbackIn)
		}
		at = t
	case b.In != "":
		d, err := time.ParseDuration(b.In)
		if err != nil {
			return callbackInput{}, fieldErr("in", "must be a duration like 30m or 2h")
		}
		if d <= 0 || d > maxCallbackIn {
			return callbackInput{}, fieldErr("in", "must be positive and at most %s", maxCallbackIn)
		}
		at = now.Add(d)
	default:
		return callbackInput{}, fieldErr("at", "at or in is required")
	}
	return callbackInput{At: at, Note: b.Note}, nil
}

// --- POST /requests

type requestBody struct {
	Kind         string `json:"kind"`
	CaseID       string `json:"case_id"`
	City         string `json:"city"`
	Organisation string `json:"organisation"`
	Position     string `json:"position"`
	FullName     string `json:"full_name"`
	ContactPhone string `json:"contact_phone"`
	Purpose      string `json:"purpose"`
	FailedNumber string `json:"failed_number"`
	FoundAt      string `json:"found_at"`
}

// request maps the body onto the domain's Request and checks it with the
// domain's own rules (routing.Request.Validate), so that the API accepts
// exactly what the requests service stores. A problem names the JSON key
// the client sent, not the domain's field.
func (b requestBody) request(createdBy string) (Request, error) {
	req := Request{
		Kind: RequestKind(b.Kind), CaseID: b.CaseID, City: b.City, Organisation: b.Organisation, Position: b.Position,
		FullName: b.FullName, Phone: b.ContactPhone, Purpose: b.Purpose,
		FailedNumber: b.FailedNumber, FoundWhere: b.FoundAt, CreatedBy: createdBy,
	}
	if err := req.Validate(); err != nil {
		var ve *routing.ValidationError
		if errors.As(err, &ve) {
			return Request{}, fieldErr(requestJSONField(ve.Field), "%s", ve.Reason)
		}
		return Request{}, fmt.Errorf("%w: %w", err, ErrBadRequest)
	}
	return req, nil
}

// requestJSONField names a routing.Request field by requestBody's JSON key;
// the two differ only where the JSON keeps the desk form's words.
func requestJSONField(field string) string {
	switch field {
	case "phone":
		return "contact_phone"
	case "found_where":
		return "found_at"
	}
	return field
}

// decodeBytes is readJSON without the HTTP parts, for the fuzz targets.
func decodeBytes(data []byte, dst any) error { return decodeJSON(bytes.NewReader(data), dst) }
