package redisstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/routing"
)

// Commands carries live-call commands and their replies between nodes
// over Redis pub/sub: one channel per node, its inbox. Pub/sub keeps
// nothing: a node that is not listening misses the message, which is what
// a command wants (the requester waits a few seconds at most; a queue
// would run a stale transfer long after the agent gave up).
type Commands struct {
	rdb    redis.UniversalClient
	prefix string
	// cluster: on Redis Cluster PUBLISH counts only the subscribers of the
	// shard that took it, so zero does not mean nobody listens.
	cluster bool
}

// NewCommands returns the command transport on client; prefix starts the
// channel names (default "hotline:").
func NewCommands(client redis.UniversalClient, prefix string) *Commands {
	if prefix == "" {
		prefix = "hotline:"
	}
	_, cluster := client.(*redis.ClusterClient)
	return &Commands{rdb: client, prefix: prefix + "node:", cluster: cluster}
}

func (c *Commands) channel(node string) string { return c.prefix + node }

// Send publishes msg to node's inbox. delivered is false when no node
// listens there (on Cluster it is always true once published): the
// caller need not wait for an answer that cannot come.
func (c *Commands) Send(ctx context.Context, node string, msg routing.NodeMessage) (delivered bool, err error) {
	b, err := json.Marshal(msg)
	if err != nil {
		return false, fmt.Errorf("send to node %s: %w", node, err)
	}
	n, err := c.rdb.Publish(ctx, c.channel(node), b).Result()
	if err != nil {
		return false, fmt.Errorf("send to node %s: %w", node, err)
	}
	return n > 0 || c.cluster, nil
}

// Inbox subscribes to node's inbox. It returns once Redis confirmed the
// subscription, so nothing published afterwards is missed. The channel
// closes when ctx is done or the subscription fails; messages that do not
// decode are skipped.
func (c *Commands) Inbox(ctx context.Context, node string) (<-chan routing.NodeMessage, error) {
	ch, err := subscribe(ctx, c.rdb, c.channel(node), func(payload string) (routing.NodeMessage, bool) {
		var msg routing.NodeMessage
		err := json.Unmarshal([]byte(payload), &msg)
		return msg, err == nil && (msg.Command == nil) != (msg.Reply == nil)
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to node inbox: %w", err)
	}
	return ch, nil
}
