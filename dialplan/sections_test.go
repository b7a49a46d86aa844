package dialplan

import (
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

// minimal is the least a configuration needs, by section.
var minimal = []struct{ key, yaml string }{
	{"topics", "topics:\n  sales: {}\n"},
	{"numbers", "numbers:\n  \"100\": {topic: sales}\n"},
	{"agents", "agents:\n  - {id: \"1\", endpoint: PJSIP/1, topics: [sales]}\n"},
	{"callback", "callback:\n  dial_template: PJSIP/${NUMBER}@trunk\n"},
}

// withMinimal completes yml with the minimal sections it does not write.
func withMinimal(yml string) string {
	for _, m := range minimal {
		if !strings.HasPrefix(yml, m.key+":") && !strings.Contains(yml, "\n"+m.key+":") {
			yml += "\n" + m.yaml
		}
	}
	return yml
}

func mustParse(t *testing.T, yml string) *Config {
	t.Helper()
	c, err := Parse("inline.yaml", []byte(yml))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	for _, w := range c.Warnings() {
		t.Errorf("unexpected warning: %s", w)
	}
	return c
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, withMinimal(""))
	checks := []struct {
		name      string
		got, want any
	}{
		{"ari.url", c.ARI.URL, "http://127.0.0.1:8088/ari"},
		{"ari.websocket_url", c.ARI.WebsocketURL, "ws://127.0.0.1:8088/ari/events"},
		{"ari.application", c.ARI.Application, "hotline"},
		{"ari.request_timeout", c.ARI.RequestTimeout, 10 * time.Second},
		{"ari.reconnect_backoff", [2]time.Duration{c.ARI.ReconnectMin, c.ARI.ReconnectMax}, [2]time.Duration{500 * time.Millisecond, 30 * time.Second}},
		{"ari.password", c.ARI.Password.IsSet(), false},
		{"redis.addrs", c.Redis.Addrs, []string{"127.0.0.1:6379"}},
		{"redis.mode", c.Redis.Mode(), RedisStandalone},
		{"redis.key_prefix", c.Redis.KeyPrefix, "hotline:"},
		{"http.listen", c.HTTP.Listen, "127.0.0.1:8080"},
		{"http.max_body_bytes", c.HTTP.MaxBodyBytes, int64(1 << 20)},
		{"node.name", c.Node.Name != "", true},
		{"languages", c.Languages, Languages{Default: "en", Supported: []string{"en"}}},
		{"transfer", c.Transfer, Transfer{Blind: BlindRefuse, MaxHops: 4, MinNoteLength: 10, ConsultTimeout: 20 * time.Second, Whisper: true}},
		{"callback.offer_wait_threshold", c.Callback.OfferWaitThreshold, 2 * time.Minute},
		{"callback.keep_position", c.Callback.KeepPosition, true},
		{"callback.attempts", c.Callback.Attempts, 3},
		{"callback.spacing", c.Callback.Spacing, 10 * time.Minute},
		{"callback.owner_deadline", c.Callback.OwnerDeadline, 4 * time.Hour},
		{"queue", c.Queue, Queue{RingTimeout: 20 * time.Second, WrapUp: 30 * time.Second, AnnounceEvery: 45 * time.Second, MOHClass: "default", HandleTime: 3 * time.Minute, Whisper: true}},
		{"survey.enabled", c.Survey.Enabled, false},
		{"survey.digits", c.Survey.Digits, map[string]int{"1": 1, "2": 2}},
		{"prompts.closed", c.Prompts.Closed, "hotline-closed"},
		{"prompts.goodbye", c.Prompts.Goodbye, "vm-goodbye"},
		{"topic priority", c.Agents[0].Topics, map[string]int{"sales": 0}},
		{"agent name", c.Agents[0].Name, "1"},
	}
	for _, ck := range checks {
		t.Run(ck.name, func(t *testing.T) {
			if !reflect.DeepEqual(ck.got, ck.want) {
				t.Errorf("got %#v, want %#v", ck.got, ck.want)
			}
		})
	}
}

func TestSections(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, c *Config)
	}{
		{"ari", `
ari:
  url: https://pbx.example.net:8089/ari/
  application: support
  username: hl
  password_env: ARI_PW
  request_timeout: 3s
  reconnect_backoff: {min: 1s, max: 1m}
`, func(t *testing.T, c *Config) {
			want := ARI{URL: "https://pbx.example.net:8089/ari/", WebsocketURL: "wss://pbx.example.net:8089/ari/events",
				Application: "support", Username: "hl", Password: SecretRef{Env: "ARI_PW"},
				RequestTimeout: 3 * time.Second, ReconnectMin: time.Second, ReconnectMax: time.Minute}
			c.ARI.Password.key, c.ARI.Password.line = "", 0
			if !reflect.DeepEqual(c.ARI, want) {
				t.Errorf("ARI = %+v\nwant %+v", c.ARI, want)
			}
		}},
		{"ari explicit websocket", `
ari:
  websocket_url: ws://10.0.0.5:8088/ari/events?subscribeAll=false
`, func(t *testing.T, c *Config) {
			if c.ARI.WebsocketURL != "ws://10.0.0.5:8088/ari/events?subscribeAll=false" {
				t.Errorf("WebsocketURL = %q", c.ARI.WebsocketURL)
			}
		}},
		{"redis sentinel", `
redis:
  addrs: [10.0.0.1:26379, 10.0.0.2:26379]
  master_name: hotline
  db: 3
  password_file: secrets/redis
`, func(t *testing.T, c *Config) {
			if c.Redis.Mode() != RedisSentinel || c.Redis.DB != 3 || len(c.Redis.Addrs) != 2 {
				t.Errorf("Redis = %+v", c.Redis)
			}
			// Relative to the configuration file's directory.
			if c.Redis.Password.File != "secrets/redis" {
				t.Errorf("password file = %q", c.Redis.Password.File)
			}
		}},
		{"redis cluster", `
redis:
  addrs: [10.0.0.1:7000, 10.0.0.2:7000, 10.0.0.3:7000]
`, func(t *testing.T, c *Config) {
			if c.Redis.Mode() != RedisCluster {
				t.Errorf("mode = %s", c.Redis.Mode())
			}
		}},
		{"http", `
http:
  listen: "[::1]:9090"
  tokens_file: /etc/hotline/tokens.yaml
  max_body_bytes: 4096
`, func(t *testing.T, c *Config) {
			if c.HTTP.Listen != "[::1]:9090" || c.HTTP.Tokens.File != "/etc/hotline/tokens.yaml" || c.HTTP.MaxBodyBytes != 4096 {
				t.Errorf("HTTP = %+v", c.HTTP)
			}
		}},
		{"languages short form", `
languages: [uk, pt_BR]
`, func(t *testing.T, c *Config) {
			if !reflect.DeepEqual(c.Languages, Languages{Default: "uk", Supported: []string{"uk", "pt_BR"}}) {
				t.Errorf("Languages = %+v", c.Languages)
			}
		}},
		{"log level", `
log: {level: debug}
`, func(t *testing.T, c *Config) {
			if c.Log.Level != slog.LevelDebug {
				t.Errorf("Log = %+v", c.Log)
			}
		}},
		{"languages default only", `
languages: {default: pl}
`, func(t *testing.T, c *Config) {
			if !reflect.DeepEqual(c.Languages, Languages{Default: "pl", Supported: []string{"pl"}}) {
				t.Errorf("Languages = %+v", c.Languages)
			}
		}},
		{"topic and agent priorities", `
topics:
  sales: {}
  audit: {description: Billing, prompt: topic-audit, default_priority: 3, handle_time: 6m}
agents:
  - id: "2"
    endpoint: SIP/agent-2
    senior: on
    topics: [audit, {sales: 7}]
  - id: "3"
    name: Third
    endpoint: Local/3@agents
    topics: {audit: 1, sales: 0}
`, func(t *testing.T, c *Config) {
			a2, _ := c.Agent("2")
			a3, _ := c.Agent("3")
			if !a2.Senior || !reflect.DeepEqual(a2.Topics, map[string]int{"audit": 3, "sales": 7}) {
				t.Errorf("agent 2 = %+v", a2)
			}
			if a3.Senior || a3.Name != "Third" || !reflect.DeepEqual(a3.Topics, map[string]int{"audit": 1, "sales": 0}) {
				t.Errorf("agent 3 = %+v", a3)
			}
			if got := c.Topics["audit"]; got.Description != "Billing" || got.Prompt != "topic-audit" || got.HandleTime != 6*time.Minute {
				t.Errorf("topic = %+v", got)
			}
			if got := c.TopicNames(); !reflect.DeepEqual(got, []string{"audit", "sales"}) {
				t.Errorf("TopicNames = %v", got)
			}
		}},
		{"menus", `
languages: [uk, en]
numbers:
  "+380441234567": {menu: main, lang: en}
menus:
  main:
    prompt: menu-main
    timeout: 3s
    retries: 0
    default: sales
    options:
      "1": {topic: sales}
      "*": {menu: lang}
  lang:
    prompt: menu-lang
    default: sales
    options:
      "#": {lang: en, topic: sales}
`, func(t *testing.T, c *Config) {
			m, ok := c.Menu("main")
			if !ok || m.Timeout != 3*time.Second || m.Retries != 0 || m.Default != "sales" || m.Prompt != "menu-main" {
				t.Fatalf("main = %+v", m)
			}
			if o, ok := m.Option("*"); !ok || o.Menu != "lang" {
				t.Errorf(`option "*" = %+v`, o)
			}
			l, _ := c.Menu("lang")
			if l.Timeout != 5*time.Second || l.Retries != 2 {
				t.Errorf("lang menu defaults = %s, %d", l.Timeout, l.Retries)
			}
			if o, ok := l.Option("#"); !ok || o != (MenuOption{Digit: "#", Topic: "sales", Lang: "en"}) {
				t.Errorf(`option "#" = %+v`, o)
			}
		}},
		{"policies", `
transfer: {blind: convert, max_hops: 2, min_note_length: 0, consult_timeout: 15s, whisper: off}
callback:
  offer_wait_threshold: 0s
  keep_position: false
  attempts: 5
  spacing: 5m
  owner_deadline: 1h
  dial_template: Local/${NUMBER}@outbound
  caller_id: "0800300100"
queue: {ring_timeout: 15s, wrap_up: 0s, announce_every: 0s, moh_class: calm, whisper: off, handle_time: 4m}
survey:
  enabled: true
  prompt: rate-us
  timeout: 4s
  digits: {"1": 5, "2": 3, "3": 1}
prompts: {closed: we-are-closed, position: your-position}
`, func(t *testing.T, c *Config) {
			if want := (Transfer{Blind: BlindConvert, MaxHops: 2, ConsultTimeout: 15 * time.Second}); c.Transfer != want {
				t.Errorf("Transfer = %+v", c.Transfer)
			}
			want := Callback{Attempts: 5, Spacing: 5 * time.Minute, OwnerDeadline: time.Hour,
				DialTemplate: "Local/${NUMBER}@outbound", CallerID: "0800300100"}
			if c.Callback != want {
				t.Errorf("Callback = %+v", c.Callback)
			}
			if want := (Queue{RingTimeout: 15 * time.Second, MOHClass: "calm", HandleTime: 4 * time.Minute}); c.Queue != want {
				t.Errorf("Queue = %+v", c.Queue)
			}
			if !c.Survey.Enabled || c.Survey.Prompt != "rate-us" || c.Survey.Timeout != 4*time.Second ||
				!reflect.DeepEqual(c.Survey.Digits, map[string]int{"1": 5, "2": 3, "3": 1}) {
				t.Errorf("Survey = %+v", c.Survey)
			}
			if c.Prompts.Closed != "we-are-closed" || c.Prompts.Position != "your-position" || c.Prompts.Goodbye != "vm-goodbye" {
				t.Errorf("Prompts = %+v", c.Prompts)
			}
		}},
		{"hours", `
topics:
  sales: {hours: office}
hours:
  office:
    timezone: Europe/Warsaw
    weekly:
      - {days: "mon-wed, fri", open: "8:30", close: "24:00"}
      - {days: [sat-sun], open: "00:00", close: "06:00"}
    holidays: [2026-12-24]
`, func(t *testing.T, c *Config) {
			h := c.Hours["office"]
			if h.Location.String() != "Europe/Warsaw" || h.Timezone != "Europe/Warsaw" {
				t.Errorf("zone = %v", h.Location)
			}
			want := []WeeklyHours{
				{Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Friday}, Open: 8*60 + 30, Close: EndOfDay},
				{Days: []time.Weekday{time.Saturday, time.Sunday}, Open: 0, Close: 6 * 60},
			}
			if !reflect.DeepEqual(h.Weekly, want) || !reflect.DeepEqual(h.Holidays, []Date{{2026, time.December, 24}}) {
				t.Errorf("hours = %+v", h)
			}
		}},
		{"anchors and merge keys", `
agents:
  - &first {id: "1", endpoint: PJSIP/1, topics: [sales], senior: true}
  - <<: *first
    id: "2"
    endpoint: PJSIP/2
`, func(t *testing.T, c *Config) {
			a2, ok := c.Agent("2")
			if !ok || !a2.Senior || a2.Endpoint != "PJSIP/2" || a2.Topics["sales"] != 0 || len(c.Agents) != 2 {
				t.Errorf("agent 2 = %+v", a2)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, withMinimal(tc.yaml))
			tc.check(t, c)
		})
	}
}
