package routing

import "time"

// EstimateWait estimates how long the caller at position (1-based) will
// wait, by the memoryless drain method: with n agents logged in for the
// topic and each call taking the topic's mean handle time h plus wrap-up w,
// the logged-in agents together finish one call every (h+w)/n on average,
// and with exponential handle times that holds from any moment, however far
// the current calls are. The free agents absorb the first callers at once,
// so the caller must wait for (position − free) completions:
//
//	wait ≈ max(0, position − available) × (h + w) / n
//
// Until the topic has a handle time (no call has ended yet) the estimate is
// zero: telling callers nothing beats inventing a figure. With no agent
// logged in there is no estimate either; QueueInfo.AgentsLoggedIn says so
// and the caller is offered a callback instead.
func EstimateWait(position int, s TopicStats, wrapUp time.Duration) time.Duration {
	ahead := position - s.AgentsAvailable
	if position <= 0 || ahead <= 0 || s.AgentsLoggedIn <= 0 || s.HandleTime <= 0 {
		return 0
	}
	per := (s.HandleTime + wrapUp) / time.Duration(s.AgentsLoggedIn)
	return time.Duration(ahead) * per
}
