package callflow

import (
	"github.com/hotline-project/hotline/ari"
	"github.com/hotline-project/hotline/routing"
)

// The real routing services satisfy the interfaces the call flow declares.
var (
	_ Router    = (*routing.Router)(nil)
	_ Callbacks = (*routing.Callbacks)(nil)
	_ Telephony = (*ari.Client)(nil)
)
