package callflow

import "github.com/hotline-project/hotline/routing"

// The real routing services satisfy the interfaces the call flow declares
// (the ARI adapter's Telephony proves its own in package ari).
var (
	_ Router    = (*routing.Router)(nil)
	_ Callbacks = (*routing.Callbacks)(nil)
)
