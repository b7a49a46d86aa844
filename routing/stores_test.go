package routing_test

import (
	"testing"

	"github.com/hotline-project/hotline/routing/model"
	"github.com/hotline-project/hotline/routing/storetest"
)

// TestStores holds the reference model to the stores' contract: every
// routing rule, through the Router and the services, on plain Go data.
// redisstore runs the same suite against a real Redis.
func TestStores(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Stores {
		m := model.New(model.Options{})
		return storetest.Stores{Queue: m, Cases: m, Callbacks: m, Requests: m}
	})
}
