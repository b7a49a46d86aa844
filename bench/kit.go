package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	mrand "math/rand/v2"
)

// ErrNoKit: the prebuilt Asterisk kit was not found.
var ErrNoKit = errors.New("no Asterisk kit (set HOTLINE_ASTERISK_KIT or --kit)")

// Asterisk is the Asterisk a real bench runs against: one it started from
// the kit (and stops), or one the administrator runs, reached by its ARI
// URL.
type Asterisk struct {
	URL      string // ARI base, http://host:port/ari
	User     string
	Password string // never printed
	// Etc is its configuration directory, where the bench writes its
	// dialplan and queues; empty when they were installed by hand.
	Etc string
	// PID is its process, for CPU seconds; 0 when not known (a remote
	// Asterisk).
	PID int
	// Version is what ARI reports, filled in by the bench.
	Version string

	dir string // kit: the throwaway installation (DIR/ast inside it)
	cli string // kit: DIR/ast/cli.sh
}

// Files the bench writes for the Asterisk of --ari-url: the administrator
// includes them once from extensions.conf and queues.conf.
const (
	benchExtensionsFile = "hotline-bench-extensions.conf"
	benchQueuesFile     = "hotline-bench-queues.conf"
)

// FindKit locates the Asterisk kit as the real-Asterisk test stage does:
// dir if given, else $HOTLINE_ASTERISK_KIT, else ../shared/asterisk beside
// the checkout that holds the current directory (or beside the current
// directory).
func FindKit(dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv("HOTLINE_ASTERISK_KIT")
	}
	if dir == "" {
		root, err := os.Getwd()
		if err != nil {
			return "", err
		}
		for d := root; ; d = filepath.Dir(d) {
			if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/hotline-project/hotline\n")) {
				root = d
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
		dir = filepath.Join(root, "..", "shared", "asterisk")
	}
	if _, err := os.Stat(filepath.Join(dir, "install.sh")); err != nil {
		return "", fmt.Errorf("%w: %s has no install.sh", ErrNoKit, dir)
	}
	return filepath.Abs(dir)
}

// StartKit installs a throwaway Asterisk from the kit into a new
// temporary directory on free loopback ports, writes the bench's dialplan
// and queues into it and starts it. Stop stops it and removes the
// directory (keep: leaves the directory, for its logs).
func StartKit(ctx context.Context, kit string, files BenchFiles, progress io.Writer) (_ *Asterisk, err error) {
	dir, err := os.MkdirTemp("", "hotline-bench-asterisk-")
	if err != nil {
		return nil, err
	}
	a := &Asterisk{User: "hotline", dir: dir, cli: filepath.Join(dir, "ast", "cli.sh")}
	defer func() {
		if err != nil {
			a.Stop(false)
		}
	}()
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	a.Password = hex.EncodeToString(pw[:])
	ports, err := freePortBlock(12)
	if err != nil {
		return nil, err
	}
	a.URL = fmt.Sprintf("http://127.0.0.1:%d/ari", ports)
	ast := filepath.Join(dir, "ast")
	logf, err := os.Create(filepath.Join(dir, "install.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	fmt.Fprintf(progress, "bench: installing Asterisk from %s into %s (ARI 127.0.0.1:%d)\n", kit, ast, ports)
	cmd := exec.CommandContext(ctx, filepath.Join(kit, "install.sh"), ast)
	// The password goes through the environment, as the test stage passes
	// it: never on a command line.
	cmd.Env = append(os.Environ(), "ARI_USER="+a.User, "ARI_PASSWORD="+a.Password,
		"ARI_PORT="+strconv.Itoa(ports), "SIP_PORT="+strconv.Itoa(ports+1),
		"RTP_START="+strconv.Itoa(ports+2), "RTP_END="+strconv.Itoa(ports+11))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("kit install.sh (log in %s): %w", logf.Name(), err)
	}
	etc := filepath.Join(ast, "etc")
	// The deployment's http.conf allows 200 HTTP sessions (Asterisk's
	// default is 100); every idle keep-alive connection of an ARI client
	// holds one.
	if err := appendFile(filepath.Join(etc, "http.conf"), "sessionlimit = "+strconv.Itoa(httpSessionLimit)+"\n"); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(etc, "extensions-local.conf"), []byte(files.Extensions), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(etc, "queues.conf"), []byte(files.Queues), 0o644); err != nil {
		return nil, err
	}
	linkCoreSounds(filepath.Join(ast, "var", "lib", "asterisk", "sounds"))
	start := exec.CommandContext(ctx, filepath.Join(ast, "start.sh"), ast)
	start.Dir = dir // a crash dumps core here, not in the checkout
	start.Stdout, start.Stderr = logf, logf
	if err := start.Run(); err != nil {
		return nil, fmt.Errorf("kit start.sh (log in %s and %s): %w", logf.Name(), filepath.Join(ast, "var", "log", "asterisk"), err)
	}
	b, err := os.ReadFile(filepath.Join(ast, "asterisk.pid"))
	if err != nil {
		return nil, fmt.Errorf("kit pid: %w", err)
	}
	if a.PID, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
		return nil, fmt.Errorf("kit pid: %w", err)
	}
	return a, nil
}

// httpSessionLimit is deploy/asterisk/http.conf's sessionlimit.
const httpSessionLimit = 200

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// linkCoreSounds lets the hotline's position announcements say their
// numbers: Debian's core digits, when installed, beside the kit's tones.
func linkCoreSounds(sounds string) {
	for _, lang := range []string{"en"} {
		src := filepath.Join("/usr/share/asterisk/sounds", lang, "digits")
		if _, err := os.Stat(src); err == nil {
			_ = os.Symlink(src, filepath.Join(sounds, lang, "digits"))
		}
	}
}

// Dir is the kit installation's directory ("" for an Asterisk of --ari-url).
func (a *Asterisk) Dir() string { return a.dir }

// Stop stops a kit Asterisk and removes its directory unless keep; an
// Asterisk of --ari-url is left alone.
func (a *Asterisk) Stop(keep bool) {
	if a.dir == "" {
		return
	}
	ast := filepath.Join(a.dir, "ast")
	if _, err := os.Stat(filepath.Join(ast, "stop.sh")); err == nil {
		cmd := exec.Command(filepath.Join(ast, "stop.sh"), ast)
		_ = cmd.Run()
	}
	if !keep {
		_ = os.RemoveAll(a.dir)
	}
}

// CLI runs one Asterisk CLI command on a kit Asterisk.
func (a *Asterisk) CLI(ctx context.Context, command string) (string, error) {
	if a.cli == "" {
		return "", errors.New("no CLI: not a kit Asterisk")
	}
	out, err := exec.CommandContext(ctx, a.cli, filepath.Dir(a.cli), command).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("asterisk cli %q: %w", command, err)
	}
	return string(out), nil
}

// InstallFiles writes the bench's dialplan and queues into the
// configuration directory of an Asterisk of --ari-url and reloads them
// through ARI. extensions.conf and queues.conf there must include them.
func (a *Asterisk) InstallFiles(ctx context.Context, files BenchFiles) error {
	if a.Etc == "" {
		return nil // installed by hand
	}
	for _, f := range []struct{ name, includer, text string }{
		{benchExtensionsFile, "extensions.conf", files.Extensions},
		{benchQueuesFile, "queues.conf", files.Queues},
	} {
		inc, err := os.ReadFile(filepath.Join(a.Etc, f.includer))
		if err != nil {
			return fmt.Errorf("bench files: %w", err)
		}
		if !bytes.Contains(inc, []byte("#include "+f.name)) && !bytes.Contains(inc, []byte("#include \""+f.name+"\"")) {
			return fmt.Errorf("bench files: %s does not include %s: add the line\n  #include %s\nto it once", filepath.Join(a.Etc, f.includer), f.name, f.name)
		}
		if err := os.WriteFile(filepath.Join(a.Etc, f.name), []byte(f.text), 0o644); err != nil {
			return fmt.Errorf("bench files: %w", err)
		}
	}
	for _, m := range []string{"pbx_config.so", "app_queue.so"} {
		if err := a.do(ctx, http.MethodPut, "asterisk/modules/"+m, nil, nil); err != nil {
			return fmt.Errorf("reload %s: %w", m, err)
		}
	}
	return nil
}

// do is a plain ARI request, for what the hotline's client has no method
// for (event filters, module reloads).
func (a *Asterisk) do(ctx context.Context, method, path string, q url.Values, body []byte) error {
	u := strings.TrimSuffix(a.URL, "/") + "/" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return err
	}
	req.SetBasicAuth(a.User, a.Password)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// freePortBlock finds n consecutive ports that no socket of this machine
// uses (TCP or UDP, IPv4 or IPv6), below the kernel's ephemeral range so
// that no outgoing connection takes one before Asterisk binds it, as
// scripts/e2e-asterisk.sh does.
func freePortBlock(n int) (int, error) {
	used := usedPorts()
	span := max((ephemeralLow()-10000-n-100)/100, 1)
	for range 100 {
		base := 10000 + mrand.IntN(span)*100
		ok := true
		for p := base; p < base+n; p++ {
			if used[p] {
				ok = false
				break
			}
		}
		if ok {
			return base, nil
		}
	}
	return 0, errors.New("no free block of ports found")
}

// ephemeralLow is the first port of the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), 32768 where it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= 10000 {
		return 32768
	}
	return n
}

// usedPorts reads the local ports of every socket in /proc/net.
func usedPorts() map[int]bool {
	used := map[int]bool{}
	for _, f := range []string{"tcp", "tcp6", "udp", "udp6"} {
		b, err := os.ReadFile(filepath.Join("/proc/net", f))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 2 {
				continue
			}
			_, port, ok := strings.Cut(fs[1], ":")
			if p, err := strconv.ParseUint(port, 16, 16); ok && err == nil {
				used[int(p)] = true
			}
		}
	}
	return used
}
