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
// zero here; Policy.EstimateWait starts from the configured one. With no agent
// logged in there is no estimate either; QueueInfo.AgentsLoggedIn says so
// and the caller is offered a callback instead.
func EstimateWait(position int, s TopicStats, wrapUp time.Duration) time.Duration {
	return estimate(position, s, wrapUp)
}

// EstimateWait is the package's EstimateWait with the policy's wrap-up and,
// until the topic has measured one, its configured starting handle time:
// a caller is told a wait (and offered a callback) from the first call on.
func (p Policy) EstimateWait(topic string, position int, s TopicStats) time.Duration {
	if s.HandleTime <= 0 {
		s.HandleTime = p.HandleTime(topic)
	}
	return estimate(position, s, p.WrapUp)
}

// HandleTime is the starting mean handle time of a topic.
func (p Policy) HandleTime(topic string) time.Duration {
	if d, ok := p.HandleTimes[topic]; ok && d > 0 {
		return d
	}
	return p.DefaultHandleTime
}

func estimate(position int, s TopicStats, wrapUp time.Duration) time.Duration {
	ahead := position - s.AgentsAvailable
	if position <= 0 || ahead <= 0 || s.AgentsLoggedIn <= 0 || s.HandleTime <= 0 {
		return 0
	}
	per := (s.HandleTime + wrapUp) / time.Duration(s.AgentsLoggedIn)
	return time.Duration(ahead) * per
}
