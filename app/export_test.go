package app

// TestConfig is the tests' configuration: {{ARI_URL}} and {{REDIS}} stand
// for the ARI endpoint and the Redis address.
const TestConfig = `
ari:
  url: {{ARI_URL}}
  username: hotline
  password_env: HOTLINE_TEST_UNUSED
  reconnect_backoff: {min: 50ms, max: 200ms}
redis:
  addrs: [{{REDIS}}]
topics:
  audit: {description: billing}
numbers:
  "100": {topic: audit}
agents:
  - {id: "101", name: Olena, endpoint: Local/101@phones, topics: [audit]}
`
