package asterisksim

import (
	"net/http"
	"slices"
)

// An application's event filter, as PUT /applications/{app}/eventFilter
// sets it (res/stasis/app.c): an event reaches the application when its
// type is on no "disallowed" entry and, if "allowed" has entries, on one of
// them. Asterisk applies it as the event is about to be written to the
// websocket, to every event of the application, ApplicationReplaced
// included; the application's own registration events bypass it.
type eventFilter struct {
	allowed, disallowed []any // the entries as sent: objects with a "type"
}

// entryType is a filter entry's type ("" if it has none).
func entryType(e any) string {
	m, _ := e.(map[string]any)
	t, _ := m["type"].(string)
	return t
}

// passes reports whether an event of type typ gets through f.
func (f *eventFilter) passes(typ string) bool {
	if f == nil {
		return true
	}
	listed := func(entries []any) bool {
		return slices.ContainsFunc(entries, func(e any) bool { return entryType(e) == typ })
	}
	return !listed(f.disallowed) && (len(f.allowed) == 0 || listed(f.allowed))
}

// setFilter is PUT /applications/{app}/eventFilter. An empty body or {}
// clears both lists; otherwise each list present replaces the one before,
// "disallowed" first (so a bad "allowed" leaves a good "disallowed" set, as
// in Asterisk), and an entry without a type is refused.
func (s *Server) setFilter(w http.ResponseWriter, r *http.Request, p params) {
	name := r.PathValue("app")
	if !s.connected(name) {
		writeErr(w, http.StatusNotFound, "Application not found")
		return
	}
	f := s.filters[name]
	if f == nil || len(p.body) == 0 {
		f = &eventFilter{}
		s.filters[name] = f
	}
	for _, list := range []struct {
		key string
		to  *[]any
	}{{"disallowed", &f.disallowed}, {"allowed", &f.allowed}} {
		v, ok := p.body[list.key]
		if !ok {
			continue
		}
		entries, isList := v.([]any)
		if !isList || slices.ContainsFunc(entries, func(e any) bool { return entryType(e) == "" }) {
			writeErr(w, http.StatusBadRequest, "Invalid format definition")
			return
		}
		*list.to = entries
	}
	writeJSON(w, http.StatusOK, s.appSnapshot(name))
}
