// Package failover holds the hotline's Redis failover tests: the whole
// daemon in-process, with its own Redis client built from the
// configuration as `hotline serve` builds it, against the simulated
// Asterisk and each Redis topology of internal/redistest — a standalone
// server with AOF, a Sentinel set, a Cluster — under steady traffic
// placed and answered by the phones driver. Each test breaks the store
// (kill -9 of the master that owns the routing keys, or a standalone
// server stopped for 30 s) and measures how long routing stops, whether
// any agent is left on_call or ringing with no call in Asterisk, and
// whether any case or callback is lost or doubled. The figures are
// logged (go test -v ./failover/).
//
// The package has no code of its own beyond this comment.
package failover
