package redisstore

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// subscribe delivers the messages of one pub/sub channel, decoded; those
// that do not decode are skipped. It returns once Redis has confirmed the
// subscription, so nothing published after it returns is missed. The
// channel closes when ctx is done or the subscription fails; the caller
// subscribes again.
func subscribe[T any](ctx context.Context, rdb redis.UniversalClient, channel string, decode func(payload string) (T, bool)) (<-chan T, error) {
	ps := rdb.Subscribe(ctx, channel)
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, err
	}
	out := make(chan T, 64)
	go func() {
		defer close(out)
		defer ps.Close()
		msgs := ps.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-msgs:
				if !ok {
					return
				}
				v, ok := decode(m.Payload)
				if !ok {
					continue
				}
				select {
				case out <- v:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
