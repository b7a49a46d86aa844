// Package model is the reference model of the routing stores: the queues,
// agents, offers, transfer claims, cases and paths, callbacks and requests
// that routing.QueueStore, routing.CaseStore, routing.CallbackStore and
// routing.RequestStore declare, held in plain Go data behind one mutex.
//
// It is written to be read. It is the specification of what redisstore's
// Lua scripts do (lua/route.lua, path.lua, case.lua, callback_*.lua), rule
// for rule, with the same results, the same errors and the same offers;
// the Lua stays because one script is one atomic step that any number of
// nodes can share, which this model can only be inside one process. When
// the two disagree, one of them is wrong: redisstore's FuzzStores drives
// both with the same random operations and compares every answer and the
// whole state after each one, and routing/storetest holds both to the
// same table tests.
//
// Where to read what:
//
//   - agents.go: the agent state machine, as a transition table.
//   - queue.go: queues, pairing (the longest waiting live caller with the
//     longest idle available agent by per-topic priority), what a waiting
//     caller is told, dead nodes, take-overs.
//   - transfer.go: transfer targets claimed, answered, accepted, released.
//   - due.go: wrap-ups that end, offers whose node died, offers a node
//     missed, and the offers published to other nodes.
//   - cases.go: cases and each call's transfer path: the loop, hop limit
//     and one-pending-transfer check.
//   - callbacks.go: callbacks: kept positions, owners, escalation to the
//     senior operators, leases and attempts.
//   - requests.go: requests and complaints for the senior operators.
//
// Like the Redis store it keeps time in whole milliseconds, and every
// time it is given is cut to the millisecond, so both order ties alike.
// What Redis lets expire by the wall clock (an ended call's path, a
// closed case, a finished callback) the model keeps: it has no wall
// clock.
package model
