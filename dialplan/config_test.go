package dialplan

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// errorCases are the configuration error cases in testdata/, one file per
// case, with every line `hotline check` must print for it. FILE stands for
// the file's path.
var errorCases = []struct {
	file     string
	errors   []string
	warnings []string
}{
	{
		file: "agent_topics.yaml",
		errors: []string{
			"FILE:9: agent 2: topics are required; an agent must take at least one topic",
			"FILE:13: agents[2].topics: an agent must take at least one topic",
			"FILE:16: agents[3].topics.sales: must be at least 0, got -1",
			`FILE:19: agents[4].topics: topic "sales" listed twice`,
		},
	},
	{
		file: "bad_digit.yaml",
		errors: []string{
			`FILE:11: menus.main.options: "12" is not a DTMF digit (0-9, "*" or "#")`,
			`FILE:12: menus.main.options: "A" is not a DTMF digit (0-9, "*" or "#")`,
			`FILE:15: survey.digits: "x" is not a DTMF digit (0-9, "*" or "#")`,
			"FILE:16: survey.digits.1: must be at least 1, got 0",
		},
	},
	{
		file: "connection.yaml",
		errors: []string{
			`FILE:2: ari.url: "127.0.0.1:8088" is not an absolute URL`,
			`FILE:3: ari.websocket_url: scheme must be ws or wss, got "http"`,
			`FILE:4: ari.application: "hot line" must be letters, digits, _ . or -`,
			`FILE:6: redis.addrs[1]: "10.0.0.2" must be host:port`,
			`FILE:9: http.listen: ":http-alt:" must be host:port`,
			"FILE:10: http.max_body_bytes: must be at least 1, got 0",
		},
	},
	{
		file: "dial_template.yaml",
		errors: []string{
			`FILE:8: callback.dial_template: "PJSIP/$NUMBER@trunk" must contain ${NUMBER} where the caller's number goes`,
		},
	},
	{
		file: "duplicate_agent.yaml",
		errors: []string{
			"FILE:10: agent 2: endpoint PJSIP/1 is already agent 1's",
			`FILE:12: agents[2]: duplicate agent id "1" (first at line 6)`,
			"FILE:15: agents[3]: id is required",
		},
	},
	{
		file: "duplicate_number.yaml",
		errors: []string{
			`FILE:6: numbers: duplicate number "100" (first at line 4)`,
			`FILE:7: numbers: duplicate number "380441234567": same as "+380441234567" (line 5)`,
			`FILE:8: numbers: service number "12a4" must be digits, optionally after +`,
		},
	},
	{
		file: "durations.yaml",
		errors: []string{
			"FILE:2: ari.request_timeout: must be greater than zero",
			"FILE:3: ari.reconnect_backoff: min 10s is above max 1s",
			"FILE:11: queue.ring_timeout: must not be negative, got -5s",
			`FILE:13: queue.announce_every: expected a duration such as "20s", got "45"`,
			"FILE:15: callback.spacing: must be greater than zero",
			`FILE:16: callback.owner_deadline: expected a duration such as "20s", got "4 hours"`,
			"FILE:17: callback.attempts: must be at least 1, got 0",
		},
	},
	{
		file: "empty.yaml",
		errors: []string{
			"FILE:1: topics: at least one topic is required",
			"FILE:1: numbers: at least one service number is required",
		},
		warnings: []string{
			"FILE: warning: callback.dial_template is not set; callbacks cannot be dialled",
		},
	},
	{
		file: "endpoint.yaml",
		errors: []string{
			`FILE:6: agent 1: endpoint "100" must be TECHNOLOGY/resource (e.g. PJSIP/100)`,
			`FILE:7: agent 2: endpoint "PJSIP/" must be TECHNOLOGY/resource (e.g. PJSIP/100)`,
			"FILE:8: agent 3: endpoint is required (e.g. PJSIP/100)",
			`FILE:9: agents[3]: id "4 5" must be letters, digits, _ . or -`,
		},
	},
	{
		file: "inline_password.yaml",
		errors: []string{
			"FILE:2: ari.password: secrets are not written in the configuration; use password_file or password_env",
			"FILE:5: redis.password_env: set only one of redis.password_file and redis.password_env",
			`FILE:7: http.tokens_env: "not a variable" is not an environment variable name`,
		},
	},
	{
		file: "invalid_time.yaml",
		errors: []string{
			`FILE:10: hours.office.weekly[0].open: "25:00" is not a time of day (HH:MM, 00:00 to 24:00)`,
			`FILE:11: hours.office.weekly[0].close: "8pm" is not a time of day (HH:MM, 00:00 to 24:00)`,
			`FILE:12: hours.office.weekly[1].days: "sunday" is not a day or range of days (mon..sun, e.g. mon-fri)`,
			"FILE:12: hours.office.weekly[1]: close is required",
			"FILE:14: hours.office.weekly[2]: days is required",
			`FILE:16: hours.office.holidays[1]: "2026-02-30" is not a date (YYYY-MM-DD)`,
			`FILE:16: hours.office.holidays[2]: "1 May" is not a date (YYYY-MM-DD)`,
		},
	},
	{
		file: "menu_cycle.yaml",
		errors: []string{
			"FILE:21: menus.lang.options.1: menu cycle main → more → lang → main",
			"FILE:22: menus.lang.options.2: menu cycle lang → lang",
		},
	},
	{
		file: "missing_sections.yaml",
		errors: []string{
			"FILE:1: numbers: at least one service number is required",
			"FILE:3: topics: at least one topic is required",
		},
		warnings: []string{
			"FILE: warning: callback.dial_template is not set; callbacks cannot be dialled",
		},
	},
	{
		file: "names.yaml",
		errors: []string{
			`FILE:2: languages.default: "de" is not in languages.supported (uk)`,
			`FILE:3: languages.supported[1]: "EN" is not a language code (e.g. uk, en, pt_BR)`,
			`FILE:5: topics: topic name "Sales" must be lowercase letters, digits, _ or -`,
			`FILE:6: topics.support.prompt: write the sound name without the "sound:" prefix`,
			`FILE:10: transfer.blind: must be refuse or convert, got "allow"`,
			`FILE:16: log.level: "verbose" must be debug, info, warn or error`,
		},
		warnings: []string{
			"FILE:5: warning: topics.Sales: no agent serves this topic; its callers can only be offered a callback",
		},
	},
	{
		file: "overlapping_hours.yaml",
		errors: []string{
			"FILE:12: hours.office.weekly: fri 19:00-22:00 overlaps 08:00-20:00 (line 9)",
			"FILE:15: hours.office.weekly[2]: open 20:00 is not before close 08:00 (split hours past midnight into two entries)",
			"FILE:18: hours.office.weekly[3].days: tue listed twice",
			"FILE:21: hours.office.weekly: mon 07:00-09:00 overlaps 08:00-20:00 (line 9)",
		},
	},
	{
		file: "route_target.yaml",
		errors: []string{
			"FILE:4: numbers.100: set either topic or menu, not both",
			"FILE:5: numbers.101: needs a topic or a menu to go to",
			"FILE:7: menus.main: default is required (the topic for callers who press nothing valid)",
			"FILE:10: menus.main.options.1: needs a topic or a menu to go to",
		},
	},
	{
		// Line 17 (digits/1, a sound in a directory) is fine.
		file: "sound_names.yaml",
		errors: []string{
			`FILE:2: topics.support.prompt: sound name "hotline-support\x00x" must be letters, digits, _ - . and /, not starting with / and without ..`,
			`FILE:3: topics.sales.prompt: sound name "hotline/../../etc/passwd" must be letters, digits, _ - . and /, not starting with / and without ..`,
			`FILE:6: menus.main.prompt: sound name "hotline main" must be letters, digits, _ - . and /, not starting with / and without ..`,
			`FILE:12: survey.prompt: sound name "/var/lib/asterisk/sounds/en/hotline-survey" must be letters, digits, _ - . and /, not starting with / and without ..`,
			`FILE:14: prompts.closed: sound name "hotline-closed\tnow" must be letters, digits, _ - . and /, not starting with / and without ..`,
			`FILE:15: prompts.goodbye: write the sound name without the "sound:" prefix`,
			`FILE:16: prompts.position: sound name "hotline-position\a" must be letters, digits, _ - . and /, not starting with / and without ..`,
			`FILE:18: prompts.estimated_wait: sound name "hotline-wait.." must be letters, digits, _ - . and /, not starting with / and without ..`,
			`FILE:19: prompts.invalid_option: sound name "hotline-é" must be letters, digits, _ - . and /, not starting with / and without ..`,
		},
	},
	{
		file: "syntax_error.yaml",
		errors: []string{
			"FILE:4: invalid YAML: did not find expected ',' or '}'",
		},
	},
	{
		file: "unknown_key.yaml",
		errors: []string{
			`FILE:3: ari: unknown key "passwrd_file"`,
			`FILE:4: top level: unknown key "queues"`,
			`FILE:8: topics.sales: unknown key "descripton"`,
			`FILE:10: numbers.100: unknown key "language"`,
			`FILE:12: agents[0]: unknown key "seniour"`,
		},
	},
	{
		file: "unknown_reference.yaml",
		errors: []string{
			`FILE:4: topics.sales.hours: unknown hours "office"`,
			`FILE:6: numbers.100.topic: unknown topic "support"`,
			`FILE:7: numbers.101.menu: unknown menu "mian"`,
			`FILE:8: numbers.102.lang: unknown language "de" (languages: uk, en)`,
			`FILE:12: menus.main.default: unknown topic "salse"`,
			`FILE:14: menus.main.options.1.lang: unknown language "ru" (languages: uk, en)`,
			`FILE:15: menus.main.options.2.menu: unknown menu "nowhere"`,
			`FILE:17: agent 1: unknown topic "billing"`,
		},
	},
	{
		file: "unknown_timezone.yaml",
		errors: []string{
			`FILE:9: hours.office.timezone: unknown time zone "Europe/Kiyv"`,
			"FILE:12: hours.support: timezone is required",
		},
	},
	{
		file: "warnings.yaml",
		warnings: []string{
			"FILE: warning: callback.dial_template is not set; callbacks cannot be dialled",
			"FILE:3: warning: topics.audit: no agent serves this topic; its callers can only be offered a callback",
			"FILE:7: warning: menus.unused: no number or menu leads to this menu",
			"FILE:13: warning: hours.spare: no topic uses these hours",
		},
	},
	{
		file: "wrong_type.yaml",
		errors: []string{
			"FILE:7: menus.main.prompt: expected a string, got a list",
			`FILE:8: menus.main.retries: expected an integer, got "three"`,
			`FILE:9: menus.main.timeout: expected a duration such as "20s", got "5"`,
			"FILE:11: menus.main.options: expected a mapping, got a list",
			`FILE:13: transfer.max_hops: expected an integer, got "2.5"`,
			`FILE:14: transfer.whisper: expected true or false, got "maybe"`,
		},
	},
}

func TestErrorCases(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			expand := func(lines []string) []string {
				out := make([]string, len(lines))
				for i, l := range lines {
					out[i] = strings.Replace(l, "FILE", path, 1)
				}
				return out
			}
			c, err := Load(path)
			if c == nil {
				t.Fatal("Load returned a nil *Config")
			}
			var probs Problems
			if len(tc.errors) > 0 && !errors.As(err, &probs) {
				t.Fatalf("Load error = %v (%T), want Problems", err, err)
			}
			if len(tc.errors) == 0 && err != nil {
				t.Fatalf("Load error = %v, want none", err)
			}
			if len(tc.errors) > 0 {
				if got, want := strings.Split(err.Error(), "\n"), expand(tc.errors); !slices.Equal(got, want) {
					t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
			var warns []string
			for _, w := range c.Warnings() {
				if !w.Warning {
					t.Errorf("warning %s not marked Warning", w)
				}
				warns = append(warns, w.String())
			}
			if want := expand(tc.warnings); !slices.Equal(warns, want) {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warns, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// Every file in testdata/ is a case with its expected problems; a file
// added without them would test nothing.
func TestErrorCasesCoverTestdata(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, tc := range errorCases {
		have[tc.file] = true
	}
	for _, f := range files {
		if !have[filepath.Base(f)] {
			t.Errorf("%s has no entry in errorCases", f)
		}
	}
	if len(files) != len(errorCases) {
		t.Errorf("%d files in testdata, %d cases", len(files), len(errorCases))
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.yaml")
	c, err := Load(path)
	var probs Problems
	if c == nil || !errors.As(err, &probs) || len(probs) != 1 {
		t.Fatalf("Load(%s) = %v, %v; want a config and one problem", path, c, err)
	}
	if !strings.HasPrefix(probs[0].String(), path+": open ") {
		t.Errorf("problem = %q", probs[0])
	}
}
