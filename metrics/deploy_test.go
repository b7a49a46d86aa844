package metrics

// Tests of the deployment kit in ../deploy that depend on this package's
// metric names, plus the checks that keep the kit's files consistent with
// each other (no Docker engine is needed).

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"
)

const deployDir = "../deploy"

var metricNameRE = regexp.MustCompile(`\bhotline_[a-z0-9_]*[a-z0-9]`)

// exportedTypes returns every family the binary exports with its type.
func exportedTypes(t *testing.T) map[string]dto.MetricType {
	t.Helper()
	reg := prometheus.NewRegistry()
	exercise(New(reg, testTopics))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	types := make(map[string]dto.MetricType, len(mfs))
	for _, mf := range mfs {
		types[mf.GetName()] = mf.GetType()
	}
	return types
}

// checkName reports why name is not something the binary exports, or "".
func checkName(types map[string]dto.MetricType, name string) string {
	if typ, ok := types[name]; ok {
		if typ == dto.MetricType_HISTOGRAM {
			return "is a histogram: query its _bucket, _sum or _count"
		}
		return ""
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		if typ, ok := types[base]; ok && typ == dto.MetricType_HISTOGRAM {
			return ""
		}
	}
	return "is not exported by the hotline"
}

// dashboardExprs returns every string in the dashboard JSON that mentions a
// hotline metric (queries, template variable definitions).
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(deployDir, "grafana/dashboards/hotline.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case string:
			if metricNameRE.MatchString(v) {
				out = append(out, v)
			}
		}
	}
	walk(doc)
	return out
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert  string `yaml:"alert"`
			Record string `yaml:"record"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestDashboardAndRulesUseExportedNames(t *testing.T) {
	types := exportedTypes(t)

	var rules ruleFile
	readYAML(t, filepath.Join(deployDir, "prometheus/rules/hotline.rules.yml"), &rules)
	var ruleExprs []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			ruleExprs = append(ruleExprs, r.Expr)
		}
	}
	if len(ruleExprs) == 0 {
		t.Fatal("no rules found in hotline.rules.yml")
	}

	sources := []struct {
		name  string
		exprs []string
	}{
		{"dashboard", dashboardExprs(t)},
		{"alert rules", ruleExprs},
	}
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			if len(src.exprs) == 0 {
				t.Fatal("no hotline_ queries found")
			}
			for _, e := range src.exprs {
				for _, name := range metricNameRE.FindAllString(e, -1) {
					if why := checkName(types, name); why != "" {
						t.Errorf("%s %s (in %q)", name, why, e)
					}
				}
			}
		})
	}
}

// TestDashboardShowsEveryMetric keeps the dashboard complete: a metric
// nobody can see is a metric nobody watches.
func TestDashboardShowsEveryMetric(t *testing.T) {
	used := make(map[string]bool)
	for _, e := range dashboardExprs(t) {
		for _, name := range metricNameRE.FindAllString(e, -1) {
			used[name] = true
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suffix); ok {
					used[base] = true
				}
			}
		}
	}
	for _, name := range Names() {
		if !used[name] {
			t.Errorf("%s is exported but on no dashboard panel", name)
		}
	}
}

func TestDashboardLayout(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(deployDir, "grafana/dashboards/hotline.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			ID      int                      `json:"id"`
			Title   string                   `json:"title"`
			GridPos struct{ H, W, X, Y int } `json:"gridPos"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	if dash.UID == "" {
		t.Error("dashboard has no uid: provisioning would give it a new one on every start")
	}
	ids := make(map[int]string)
	for _, p := range dash.Panels {
		if prev, ok := ids[p.ID]; ok {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.GridPos.X < 0 || p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q is outside the 24-column grid: %+v", p.Title, p.GridPos)
		}
	}
}

func TestEveryAlertHasAUnitTest(t *testing.T) {
	var rules ruleFile
	readYAML(t, filepath.Join(deployDir, "prometheus/rules/hotline.rules.yml"), &rules)
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, filepath.Join(deployDir, "prometheus/rules/hotline.rules.test.yml"), &tests)
	tested := make(map[string]bool)
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			tested[a.Alertname] = true
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" && !tested[r.Alert] {
				t.Errorf("alert %s has no promtool unit test", r.Alert)
			}
		}
	}
}

// TestPromtool validates the Prometheus configuration and runs the alert
// rules' unit tests with the real rule engine.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not found in PATH: install Debian's prometheus package (apt-get install prometheus); the project's test command does")
	}
	tests := []struct {
		name string
		args []string
	}{
		{"check config", []string{"check", "config", "prometheus.yml"}},
		{"check rules", []string{"check", "rules", "rules/hotline.rules.yml"}},
		{"test rules", []string{"test", "rules", "rules/hotline.rules.test.yml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), promtool, tt.args...)
			cmd.Dir = filepath.Join(deployDir, "prometheus")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("promtool %s: %v\n%s", strings.Join(tt.args, " "), err, out)
			}
		})
	}
}

type composeFile struct {
	Services map[string]struct {
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Image   string   `yaml:"image"`
		Volumes []string `yaml:"volumes"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func TestComposeFile(t *testing.T) {
	var c composeFile
	readYAML(t, filepath.Join(deployDir, "docker-compose.yml"), &c)

	for _, want := range []string{"asterisk", "redis", "hotline", "prometheus", "grafana"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("service %s missing", want)
		}
	}
	for name, svc := range c.Services {
		t.Run(name, func(t *testing.T) {
			if svc.Build == nil && svc.Image == "" {
				t.Error("neither build nor image")
			}
			if svc.Build != nil {
				ctx := filepath.Join(deployDir, svc.Build.Context)
				if _, err := os.Stat(ctx); err != nil {
					t.Errorf("build context: %v", err)
				}
				dockerfile := svc.Build.Dockerfile
				if dockerfile == "" {
					dockerfile = "Dockerfile"
				}
				if _, err := os.Stat(filepath.Join(ctx, dockerfile)); err != nil {
					t.Errorf("dockerfile: %v", err)
				}
			}
			for _, v := range svc.Volumes {
				src, _, ok := strings.Cut(v, ":")
				if !ok {
					t.Errorf("volume %q has no target", v)
					continue
				}
				if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
					if _, err := os.Stat(filepath.Join(deployDir, src)); err != nil {
						t.Errorf("mounted path %s: %v", src, err)
					}
					continue
				}
				if _, ok := c.Volumes[src]; !ok {
					t.Errorf("named volume %s is not declared", src)
				}
			}
		})
	}
}

// TestComposeWiring checks that the pieces mounted into the containers
// point at each other: Grafana's provider path is where the dashboards are
// mounted, and the Asterisk image copies files that exist.
func TestComposeWiring(t *testing.T) {
	var c composeFile
	readYAML(t, filepath.Join(deployDir, "docker-compose.yml"), &c)
	var provider struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(deployDir, "grafana/provisioning/dashboards/hotline.yaml"), &provider)
	if len(provider.Providers) == 0 {
		t.Fatal("no dashboard provider")
	}
	want := "./grafana/dashboards:" + provider.Providers[0].Options.Path + ":ro"
	if !slices.Contains(c.Services["grafana"].Volumes, want) {
		t.Errorf("grafana does not mount %q; provider path and mount disagree", want)
	}

	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(deployDir, "grafana/provisioning/datasources/prometheus.yaml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].UID == "" {
		t.Errorf("want one prometheus datasource with a uid, got %+v", ds.Datasources)
	}

	f, err := os.Open(filepath.Join(deployDir, "asterisk/Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	copies := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[0] != "COPY" || strings.HasPrefix(fields[1], "--") {
			continue
		}
		for _, src := range fields[1 : len(fields)-1] {
			copies++
			if _, err := os.Stat(filepath.Join(deployDir, "asterisk", src)); err != nil {
				t.Errorf("asterisk/Dockerfile copies %s: %v", src, err)
			}
		}
	}
	if copies == 0 {
		t.Error("asterisk/Dockerfile copies no configuration")
	}
}

// asteriskSections returns the [section] names of an Asterisk .conf file
// with the text of their header line (templates and options included).
func asteriskSections(t *testing.T, path string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sections := make(map[string]string)
	for line := range strings.Lines(string(raw)) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "[") {
			continue
		}
		end := strings.Index(line, "]")
		if end < 0 {
			t.Errorf("%s: bad section line %q", path, line)
			continue
		}
		sections[line[1:end]] += line[end+1:]
	}
	return sections
}

// installAsterisk runs deploy/asterisk/install.sh as the deployment guide
// does, into a fresh configuration directory, and returns it with the
// secrets directory.
func installAsterisk(t *testing.T, etc, secrets string, env ...string) {
	t.Helper()
	cmd := exec.Command("sh", filepath.Join(deployDir, "asterisk/install.sh"), etc)
	cmd.Env = append(os.Environ(), append([]string{"SECRETS_DIR=" + secrets}, env...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
}

// TestAsteriskInstall checks what install.sh writes: the hotline's
// contexts included into the dialplan, an ARI user with a generated
// password (the one hotline.yaml's password file holds), loopback
// addresses by default, and an endpoint with its own generated password
// for every PJSIP agent of the reference configuration. Whether Asterisk
// accepts the files is the real-Asterisk stage's test
// (scripts/e2e-asterisk.sh installs with this script).
func TestAsteriskInstall(t *testing.T) {
	etc, secrets := t.TempDir(), filepath.Join(t.TempDir(), "hotline")
	if err := os.WriteFile(filepath.Join(etc, "extensions.conf"), []byte("[general]\n[from-trunk]\nexten => 1,1,Goto(hotline,100,1)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	installAsterisk(t, etc, secrets)

	ext, err := os.ReadFile(filepath.Join(etc, "extensions.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ext), "[from-trunk]") || strings.Count(string(ext), "#include extensions_hotline.conf") != 1 {
		t.Errorf("extensions.conf: the administrator's contexts kept and the hotline's included once:\n%s", ext)
	}
	contexts := asteriskSections(t, filepath.Join(etc, "extensions_hotline.conf"))
	for _, ctx := range []string{"hotline", "agents-ari"} {
		if _, ok := contexts[ctx]; !ok {
			t.Errorf("extensions_hotline.conf has no context [%s]", ctx)
		}
	}
	if _, ok := asteriskSections(t, filepath.Join(etc, "musiconhold.conf"))["default"]; !ok {
		t.Error("musiconhold.conf has no class [default]")
	}

	password, err := os.ReadFile(filepath.Join(secrets, "ari-password"))
	if err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(string(password))
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(pw) {
		t.Errorf("ari-password %q is not 32 random hex digits", pw)
	}
	if fi, err := os.Stat(filepath.Join(secrets, "ari-password")); err != nil || fi.Mode().Perm()&0o007 != 0 {
		t.Errorf("ari-password readable by others: %v %v", fi.Mode(), err)
	}
	ari, err := os.ReadFile(filepath.Join(etc, "ari.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ari), "[hotline]") || !strings.Contains(string(ari), "password = "+pw+"\n") {
		t.Errorf("ari.conf has no [hotline] user with the generated password:\n%s", ari)
	}
	http, err := os.ReadFile(filepath.Join(etc, "http.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(http), "bindaddr = 127.0.0.1\n") || !strings.Contains(string(http), "bindport = 8088\n") {
		t.Errorf("http.conf does not bind 127.0.0.1:8088 by default:\n%s", http)
	}
	transport, err := os.ReadFile(filepath.Join(etc, "pjsip_hotline.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(transport), "bind = 127.0.0.1:5060\n") || strings.Contains(string(transport), "0.0.0.0") {
		t.Errorf("the SIP transport does not bind 127.0.0.1:5060 by default")
	}

	// Every PJSIP agent of the example configuration has an endpoint built
	// on the agent template, each with a password of its own.
	phonesFile := filepath.Join(etc, "pjsip_hotline_phones.conf")
	phones := asteriskSections(t, phonesFile)
	raw, err := os.ReadFile(phonesFile)
	if err != nil {
		t.Fatal(err)
	}
	passwords := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^password = (\S+)$`).FindAllStringSubmatch(string(raw), -1) {
		if passwords[m[1]] || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(m[1]) {
			t.Errorf("password %q repeated or not random", m[1])
		}
		passwords[m[1]] = true
	}
	var cfg struct {
		Agents []struct {
			ID       string `yaml:"id"`
			Endpoint string `yaml:"endpoint"`
		} `yaml:"agents"`
	}
	readYAML(t, filepath.Join(deployDir, "hotline.yaml"), &cfg)
	for _, a := range cfg.Agents {
		name, ok := strings.CutPrefix(a.Endpoint, "PJSIP/")
		if !ok {
			continue
		}
		if !strings.Contains(phones[name], "hotline-agent") {
			t.Errorf("agent %s: no [%s](hotline-agent) endpoint", a.ID, name)
		}
	}
	if len(cfg.Agents) == 0 || len(passwords) < len(cfg.Agents) {
		t.Errorf("%d agents, %d passwords", len(cfg.Agents), len(passwords))
	}

	// Running it again, with other addresses, changes no password and
	// includes nothing twice.
	installAsterisk(t, etc, secrets, "SIP_BIND=192.0.2.10:5070", "HTTP_BIND=127.0.0.1:8090")
	again, err := os.ReadFile(phonesFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(raw) {
		t.Error("a second install changed the phones' passwords")
	}
	pjsip, err := os.ReadFile(filepath.Join(etc, "pjsip.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(pjsip), "#include pjsip_hotline.conf") != 1 || strings.Count(string(pjsip), "#include pjsip_hotline_phones.conf") != 1 {
		t.Errorf("pjsip.conf includes:\n%s", pjsip)
	}
	if transport, _ := os.ReadFile(filepath.Join(etc, "pjsip_hotline.conf")); !strings.Contains(string(transport), "bind = 192.0.2.10:5070\n") {
		t.Error("SIP_BIND not applied")
	}
	if http, _ := os.ReadFile(filepath.Join(etc, "http.conf")); !strings.Contains(string(http), "bindport = 8090\n") {
		t.Error("HTTP_BIND not applied")
	}
}

func TestSystemdUnit(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(deployDir, "systemd/hotline.service"))
	if err != nil {
		t.Fatal(err)
	}
	set := make(map[string][]string)
	for line := range strings.Lines(string(raw)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("not a key=value line: %q", line)
			continue
		}
		set[k] = append(set[k], v)
	}
	want := map[string]string{
		"User":                  "hotline",
		"ProtectSystem":         "strict",
		"ProtectHome":           "yes",
		"NoNewPrivileges":       "yes",
		"PrivateTmp":            "yes",
		"CapabilityBoundingSet": "",
		"Restart":               "on-failure",
		"EnvironmentFile":       "/etc/hotline/hotline.env",
		"ExecStart":             "/usr/local/bin/hotline serve --config /etc/hotline/hotline.yaml",
		"ExecReload":            "/bin/kill -HUP $MAINPID",
	}
	for k, v := range want {
		if !slices.Contains(set[k], v) {
			t.Errorf("%s=%s missing (have %q)", k, v, set[k])
		}
	}
	for _, k := range []string{"TimeoutStopSec", "StartLimitBurst", "StartLimitIntervalSec", "RestartSec"} {
		if len(set[k]) == 0 {
			t.Errorf("%s not set", k)
		}
	}
}

func TestCheckName(t *testing.T) {
	types := exportedTypes(t)
	tests := []struct {
		name string
		ok   bool
	}{
		{"hotline_queue_depth", true},
		{"hotline_transfers_total", true},
		{"hotline_wait_seconds_bucket", true},
		{"hotline_agents_per_resolved_call_count", true},
		{"hotline_wait_seconds", false},           // a histogram has no bare series
		{"hotline_queue_depth_sum", false},        // a gauge has no _sum
		{"hotline_calls_total", false},            // not exported
		{"hotline_transfers_total_bucket", false}, // a counter has no buckets
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if why := checkName(types, tt.name); (why == "") != tt.ok {
				t.Errorf("checkName = %q, want ok=%v", why, tt.ok)
			}
		})
	}
}
