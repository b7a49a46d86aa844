package app

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotline-project/hotline/metrics"
)

// TestObserverCountsMailboxOverflows: a call aborted for a full mailbox
// shows on hotline_call_mailbox_overflows_total.
func TestObserverCountsMailboxOverflows(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry(), nil)
	o := observer{m}
	o.MailboxOverflow()
	o.MailboxOverflow()
	if got := testutil.ToFloat64(m.MailboxOverflows); got != 2 {
		t.Errorf("mailbox overflows = %v, want 2", got)
	}
}
