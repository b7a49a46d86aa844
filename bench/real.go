package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mrand "math/rand/v2"

	"github.com/hotline-project/hotline/ari"
)

// `hotline bench --asterisk` measures, in one run on one real Asterisk,
// with the same callers and the same agents, three systems:
//
//   - hotline: the daemon (`hotline serve`, its own process, its own
//     redis-server), callers entering Stasis(hlb-hotline);
//   - app_queue: Asterisk's own queue, callers entering Queue() in the
//     dialplan, the agents as static members;
//   - floor: the bench's bare ARI router (its own process), the least an
//     ARI router can do.
//
// Callers are Local pairs the bench originates (formats=ulaw); agents are
// Local/EXT@hlb-agents, whose dialplan answers at once, talks a fixed time
// and hangs up. An observer application subscribed to every channel
// timestamps the calls of all three the same way (see Observer), and CPU
// seconds come from /proc/<pid>/stat of Asterisk and of each system's own
// processes.

// The systems measured.
const (
	SysHotline = "hotline"
	SysQueue   = "app_queue"
	SysFloor   = "floor"
)

// AsteriskOptions configure a real-Asterisk bench.
type AsteriskOptions struct {
	// Kit is the Asterisk kit to install a throwaway Asterisk from; ""
	// finds it as the real-Asterisk test stage does (FindKit). Unused with
	// URL.
	Kit string
	// URL, User and Password reach an Asterisk the administrator runs
	// instead; Etc is its configuration directory, where the bench writes
	// its dialplan and queues (empty: they were installed by hand), and
	// PID its process, for CPU seconds (0: not measured).
	URL, User, Password, Etc string
	PID                      int

	// Executable is the hotline binary: `serve` runs the daemon, `bench
	// --floor-router` the floor.
	Executable string

	// Handoff: Rounds measured per series, with Depth callers waiting
	// ahead for the one agent; Announce is the announcement interval of
	// the announcing series (hotline's queue.announce_every, app_queue's
	// periodic-announce-frequency).
	Rounds, Depth int
	Announce      time.Duration

	// Capacity: Agents agents talking Talk each, Poisson arrivals at each
	// of Rates for Duration; a level's stragglers get Drain after the last
	// arrival.
	Agents   int
	Talk     time.Duration
	Rates    []float64
	Duration time.Duration
	Drain    time.Duration
	// DecisionRate and DecisionDuration are the light load (every agent
	// free) at which StasisStart → agent originate is timed.
	DecisionRate     float64
	DecisionDuration time.Duration
	// KeepGoing runs every rate for every system; by default a system
	// that fails a rate is not offered the higher ones.
	KeepGoing bool
	Seed      uint64

	// Systems to measure (default all three); Skip leaves a part out:
	// "handoff", "announce", "decision" or "capacity".
	Systems []string
	Skip    []string

	Keep     bool // keep the kit's directory (logs) afterwards
	Logger   *slog.Logger
	Progress io.Writer
}

// DefaultRates are the Poisson rates offered when none are given, calls
// per second. 225 is 1.5 × the 150/s app_queue sustains on a 2-core
// machine: the target's own step must be offered.
var DefaultRates = []float64{100, 150, 175, 200, 225, 250, 300}

func (o *AsteriskOptions) defaults() error {
	if o.Rounds == 0 {
		o.Rounds = 60
	}
	if o.Depth == 0 {
		o.Depth = 3
	}
	if o.Announce == 0 {
		o.Announce = 3 * time.Second
	}
	if o.Agents == 0 {
		o.Agents = 50
	}
	if o.Talk == 0 {
		o.Talk = 200 * time.Millisecond
	}
	if len(o.Rates) == 0 {
		o.Rates = slices.Clone(DefaultRates)
	}
	if o.Duration == 0 {
		o.Duration = 20 * time.Second
	}
	if o.DecisionRate == 0 {
		o.DecisionRate = 20
	}
	if o.DecisionDuration == 0 {
		o.DecisionDuration = 10 * time.Second
	}
	if o.Drain == 0 {
		o.Drain = 15 * time.Second
	}
	if len(o.Systems) == 0 {
		o.Systems = []string{SysQueue, SysHotline, SysFloor}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	for i, s := range o.Systems {
		if s != SysHotline && s != SysQueue && s != SysFloor {
			return fmt.Errorf("%w: system %q is none of %s, %s, %s", ErrBadOptions, s, SysHotline, SysQueue, SysFloor)
		}
		// The report holds one level per system and rate.
		if slices.Contains(o.Systems[:i], s) {
			return fmt.Errorf("%w: system %q named twice", ErrBadOptions, s)
		}
	}
	for _, s := range o.Skip {
		if s != "handoff" && s != "announce" && s != "decision" && s != "capacity" {
			return fmt.Errorf("%w: --skip %q is none of handoff, announce, decision, capacity", ErrBadOptions, s)
		}
	}
	switch {
	case o.Rounds < 1 || o.Depth < 1 || o.Agents < 1 || o.Talk < 0 || o.Duration < time.Second || o.Drain < 0:
		return fmt.Errorf("%w: rounds, depth and agents must be positive, the duration at least 1s", ErrBadOptions)
	case o.Announce < time.Second:
		return fmt.Errorf("%w: announcements at least 1s apart (app_queue counts seconds)", ErrBadOptions)
	case o.Executable == "" && (slices.Contains(o.Systems, SysHotline) || slices.Contains(o.Systems, SysFloor)):
		return fmt.Errorf("%w: the hotline executable is needed to run the daemon and the floor", ErrBadOptions)
	case o.URL != "" && o.User == "":
		return fmt.Errorf("%w: --ari-url needs --ari-user", ErrBadOptions)
	}
	for _, r := range o.Rates {
		if r <= 0 {
			return fmt.Errorf("%w: rates must be positive", ErrBadOptions)
		}
	}
	return nil
}

func (o *AsteriskOptions) runs(system string) bool { return slices.Contains(o.Systems, system) }
func (o *AsteriskOptions) skips(part string) bool  { return slices.Contains(o.Skip, part) }

// callerLimit bounds how long a bench caller may exist (hlb-phone's Wait
// and the originate timeout): longer than any series keeps one.
const callerLimit = 10 * time.Minute

// realBench is one run's state.
type realBench struct {
	o     AsteriskOptions
	ast   *Asterisk
	files BenchFiles
	obs   *Observer
	pl    *placer
	dir   string
	rep   *AsteriskReport

	hotline *daemon // the capacity levels' daemon
	floor   *floorProc
}

// RunAsterisk runs the real-Asterisk bench. A report is returned whenever
// anything was measured, also with an error.
func RunAsterisk(ctx context.Context, o AsteriskOptions) (_ *AsteriskReport, err error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	files, err := benchFiles(o.Agents, o.Talk, callerLimit, o.Announce)
	if err != nil {
		return nil, err
	}
	b := &realBench{o: o, files: files, rep: &AsteriskReport{Options: o, Started: time.Now(),
		Machine: machine(), LoadBefore: loadavg()}}
	defer func() { b.rep.Elapsed = time.Since(b.rep.Started); b.rep.LoadAfter = loadavg() }()

	if o.URL == "" {
		kit, err := FindKit(o.Kit)
		if err != nil {
			return nil, err
		}
		if b.ast, err = StartKit(ctx, kit, files, o.Progress); err != nil {
			return nil, err
		}
		defer func() {
			if o.Keep {
				fmt.Fprintf(o.Progress, "bench: Asterisk stopped; its directory is kept: %s\n", b.ast.Dir())
			}
			b.ast.Stop(o.Keep)
		}()
		b.dir = b.ast.Dir()
	} else {
		b.ast = &Asterisk{URL: o.URL, User: o.User, Password: o.Password, Etc: o.Etc, PID: o.PID}
		if err := b.ast.InstallFiles(ctx, files); err != nil {
			return nil, err
		}
		if b.dir, err = os.MkdirTemp("", "hotline-bench-"); err != nil {
			return nil, err
		}
		if !o.Keep {
			defer os.RemoveAll(b.dir)
		}
	}
	info, err := b.infoClient().Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("asterisk: %w", err)
	}
	b.ast.Version = info.Version
	b.rep.OthersBefore = b.othersFor(ctx, 3*time.Second)
	if b.rep.OthersBefore > 0.1 {
		b.progress("the machine is busy: %.0f%% of its CPU goes to other processes; the figures will show it", 100*b.rep.OthersBefore)
	}
	b.rep.Asterisk = "Asterisk " + info.Version
	b.rep.CPUKnown = b.ast.PID != 0
	if b.ast.PID == 0 {
		b.rep.Notes = append(b.rep.Notes, "Asterisk's process is not known (--asterisk-pid): its CPU is not measured")
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer func() {
		uctx, ucancel := context.WithTimeout(context.Background(), 5*time.Second)
		b.obs.Unsubscribe(uctx)
		ucancel()
		cancel()
		wg.Wait()
	}()
	if b.obs, err = NewObserver(b.ast, o.Logger.With("component", "observer")); err != nil {
		return nil, err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = b.obs.Run(runCtx)
	}()
	rctx, rcancel := context.WithTimeout(ctx, 15*time.Second)
	err = b.obs.Ready(rctx)
	rcancel()
	if err != nil {
		return nil, err
	}
	var run [3]byte
	_, _ = rand.Read(run[:])
	b.pl = newPlacer(b.ast, hex.EncodeToString(run[:]), callerLimit)
	defer b.stopSystems()

	if err := b.handoffPhase(ctx); err != nil {
		return b.rep, err
	}
	if !o.skips("capacity") {
		if err := b.capacityPhase(ctx); err != nil {
			return b.rep, err
		}
	}
	return b.rep, nil
}

func (b *realBench) infoClient() *ari.Client {
	c, _ := ari.New(ari.Options{URL: b.ast.URL, Application: "hlb-info", Username: b.ast.User, Password: b.ast.Password})
	return c
}

func (b *realBench) progress(format string, args ...any) {
	fmt.Fprintf(b.o.Progress, "bench: "+format+"\n", args...)
}

func (b *realBench) stopSystems() {
	if b.hotline != nil {
		b.hotline.stop()
		b.hotline = nil
	}
	if b.floor != nil {
		b.floor.stop(10 * time.Second)
		b.floor = nil
	}
}

// endpoint is where a system's callers are sent: the hotline's and the
// floor's service number, or app_queue's queue by its extension.
func (b *realBench) endpoint(system, queue string) string {
	switch system {
	case SysHotline:
		return "Local/" + benchNumber + "@hlb-in-hotline"
	case SysFloor:
		return "Local/" + benchNumber + "@hlb-in-floor"
	}
	return "Local/" + b.files.queueExten(queue) + "@hlb-in-queue"
}

// handoffPhase runs the handoff series: each system with one agent and
// callers queued ahead, without and then with announcements (the floor
// has none).
func (b *realBench) handoffPhase(ctx context.Context) error {
	o := b.o
	if o.skips("handoff") {
		return nil
	}
	// One daemon at a time (they share the application name), each with
	// a fresh redis-server: one per handoff series, one for capacity.
	for _, sys := range o.Systems {
		var err error
		switch sys {
		case SysHotline:
			b.progress("starting hotline serve (announcements off) and its redis-server")
			var d *daemon
			if d, err = startDaemon(ctx, o.Executable, filepath.Join(b.dir, "hotline-handoff"), b.ast, 0, 1); err == nil {
				if err = d.setAgents(ctx, "login", agentID(0)); err == nil {
					err = b.handoff(ctx, sys, false, b.endpoint(sys, ""), b.hotlineMeter(d))
				}
				d.stop()
			}
		case SysQueue:
			err = b.handoff(ctx, sys, false, b.endpoint(sys, queueHandoff), cpuMeter{})
		case SysFloor:
			var f *floorProc
			if f, err = startFloor(ctx, o.Executable, b.dir, b.ast, 1); err == nil {
				err = b.handoff(ctx, sys, false, b.endpoint(sys, ""), cpuMeter{"floor": f.pid()})
				f.stop(10 * time.Second)
			}
		}
		if err != nil {
			return err
		}
	}
	if o.skips("announce") {
		return nil
	}
	for _, sys := range o.Systems {
		var err error
		switch sys {
		case SysHotline:
			b.progress("starting hotline serve (announcements every %s) and its redis-server", o.Announce)
			var d *daemon
			if d, err = startDaemon(ctx, o.Executable, filepath.Join(b.dir, "hotline-announce"), b.ast, o.Announce, 1); err == nil {
				if err = d.setAgents(ctx, "login", agentID(0)); err == nil {
					err = b.handoff(ctx, sys, true, b.endpoint(sys, ""), b.hotlineMeter(d))
				}
				d.stop()
			}
		case SysQueue:
			err = b.handoff(ctx, sys, true, b.endpoint(sys, queueHandoffAnnounce), cpuMeter{})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// othersFor is the share of the machine's CPU that processes not this
// run's use over d.
func (b *realBench) othersFor(ctx context.Context, d time.Duration) float64 {
	all := b.allProcesses()
	c0 := all.snapshot()
	busy0, total0 := machineCPU()
	if sleepCtx(ctx, d) != nil {
		return 0
	}
	busy1, total1 := machineCPU()
	if total1 <= total0 {
		return 0
	}
	var ours time.Duration
	for _, x := range all.since(c0) {
		ours += x
	}
	return max(0, float64(busy1-busy0-ours)/float64(total1-total0))
}

// allProcesses are every process of the run's on this machine, to tell
// the machine's other load apart.
func (b *realBench) allProcesses() cpuMeter {
	m := cpuMeter{"asterisk": b.ast.PID, "bench": os.Getpid()}
	if b.hotline != nil {
		m["hotline"], m["redis"] = b.hotline.pid(), b.hotline.redisPID
	}
	if b.floor != nil {
		m["floor"] = b.floor.pid()
	}
	return m
}

func (b *realBench) hotlineMeter(d *daemon) cpuMeter {
	return cpuMeter{"hotline": d.pid(), "redis": d.redisPID}
}

// warmUp sends a few callers through a system and waits for them to end:
// connection pools, Redis scripts and Asterisk's caches are warm when the
// series starts.
func (b *realBench) warmUp(ctx context.Context, endpoint string) error {
	for range 3 {
		if err := b.pl.place(ctx, endpoint); err != nil {
			return err
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return b.drain(ctx, 30*time.Second)
}

// drain waits up to limit for every channel of the bench's to be gone; the
// stragglers are then hung up. forced says whether any had to be.
func (b *realBench) drain(ctx context.Context, limit time.Duration) error {
	_, err := b.drainForced(ctx, limit)
	return err
}

func (b *realBench) drainForced(ctx context.Context, limit time.Duration) (forced time.Time, _ error) {
	wctx, cancel := context.WithTimeout(ctx, limit)
	err := waitFor(wctx, func() bool { return b.obs.Live() == 0 })
	cancel()
	if err == nil {
		return time.Time{}, nil
	}
	if ctx.Err() != nil {
		return time.Time{}, ctx.Err()
	}
	forced = time.Now()
	b.pl.hangupAll(ctx, b.obs)
	// After a collapse the observer may be far behind Asterisk: what
	// Asterisk itself still has decides, and the observer is given time
	// to catch up.
	for range 3 {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := waitFor(wctx, func() bool { return b.obs.Live() == 0 })
		cancel()
		if err == nil {
			return forced, nil
		}
		left, lerr := b.pl.ours(ctx)
		if lerr != nil {
			return forced, lerr
		}
		if len(left) == 0 {
			continue // gone in Asterisk: the observer is catching up
		}
		b.pl.hangup(ctx, left)
	}
	left, err := b.pl.ours(ctx)
	if err != nil {
		return forced, err
	}
	if len(left) > 0 {
		return forced, fmt.Errorf("%d of the bench's channels still in Asterisk 90 s after hanging them up", len(left))
	}
	b.obs.forget() // Asterisk has none: the observer never heard of their end
	return forced, nil
}

// handoff runs one handoff series: one agent, Depth callers always
// waiting, until Rounds+1 agent calls have been answered; the time from
// each agent call's end to the next one's channel is a round.
func (b *realBench) handoff(ctx context.Context, system string, announce bool, endpoint string, meter cpuMeter) error {
	o := b.o
	name := system
	if announce {
		name += fmt.Sprintf(" (announcements every %s)", o.Announce)
	}
	b.progress("handoff: %s, %d rounds, 1 agent, %d callers waiting ahead", name, o.Rounds, o.Depth)
	if err := b.warmUp(ctx, endpoint); err != nil {
		return fmt.Errorf("handoff %s: warm-up: %w", name, err)
	}
	b.obs.Take()
	b.pl.takePlaced()
	meter["asterisk"] = b.ast.PID
	cpu0 := meter.snapshot()
	base := b.obs.AgentsAnswered()
	need := int64(o.Rounds + 1)
	// No round may take longer than this: app_queue's with announcements
	// take about 3 s.
	limit := time.Now().Add(time.Duration(o.Rounds+5)*(10*time.Second+o.Talk) + time.Minute)
	placed, failed := int64(0), 0
	res := HandoffResult{System: system, Announce: announce}
	// A caller is placed a random moment (up to a second) after the queue
	// has room for one: app_queue's waiting callers poll once a second
	// from when they joined, and callers placed right after an answer
	// would all poll in step with the agent's calls, making every round
	// alike. Placed at random, a caller's poll is at a random phase of the
	// agent's hangup, as a real caller's is.
	rng := mrand.New(mrand.NewPCG(o.Seed, 7))
	var pending []time.Time // when the callers due are placed
	for {
		answered := b.obs.AgentsAnswered() - base
		if answered >= need {
			break
		}
		now := time.Now()
		if now.After(limit) {
			res.Err = fmt.Sprintf("only %d of %d agent calls answered in time", answered, need)
			break
		}
		waiting := placed - answered
		if waiting < 2 && len(pending) == 0 {
			pending = append(pending, now) // the queue must never run dry
		}
		for waiting+int64(len(pending)) < int64(o.Depth+1) {
			pending = append(pending, now.Add(time.Duration(rng.Int64N(int64(time.Second)))))
		}
		slices.SortFunc(pending, time.Time.Compare)
		if len(pending) > 0 && !now.Before(pending[0]) {
			pending = pending[1:]
			if err := b.pl.place(ctx, endpoint); err != nil {
				if failed++; failed > 5 {
					return fmt.Errorf("handoff %s: %w", name, err)
				}
			} else {
				placed++
			}
		}
		if err := sleepCtx(ctx, 2*time.Millisecond); err != nil {
			return err
		}
	}
	b.pl.hangupAll(ctx, b.obs)
	if err := b.drain(ctx, 30*time.Second); err != nil {
		return fmt.Errorf("handoff %s: %w", name, err)
	}
	res.CPU = meter.since(cpu0)
	events := b.obs.Take()
	b.dumpTrace(fmt.Sprintf("handoff-%s-announce-%v", system, announce), events)
	tr := buildTrace(events, true)
	samples, unwaited := tr.handoffs()
	if len(samples) > o.Rounds {
		samples = samples[:o.Rounds]
	}
	res.Samples, res.Unwaited, res.Calls = NewDist(samples), unwaited, len(samples)
	res.Lag = NewDist(tr.lag)
	b.rep.Handoff = append(b.rep.Handoff, res)
	b.progress("handoff: %s: %s", name, res.Samples)
	return nil
}

// capacityPhase offers each system Poisson arrivals at each rate in turn,
// 50 agents talking Talk; a system that fails a rate is not offered the
// higher ones (unless KeepGoing). The systems take turns at every rate,
// so a machine whose load drifts treats them alike.
func (b *realBench) capacityPhase(ctx context.Context) error {
	o := b.o
	meters := map[string]cpuMeter{SysQueue: {}}
	endpoints := map[string]string{SysQueue: b.endpoint(SysQueue, queueCapacity)}
	if o.runs(SysHotline) {
		b.progress("starting hotline serve (announcements off) and its redis-server")
		d, err := startDaemon(ctx, o.Executable, filepath.Join(b.dir, "hotline-capacity"), b.ast, 0, o.Agents)
		if err != nil {
			return err
		}
		b.hotline = d
		all := make([]string, o.Agents)
		for i := range all {
			all[i] = agentID(i)
		}
		if err := b.hotline.setAgents(ctx, "login", all...); err != nil {
			return err
		}
		meters[SysHotline] = b.hotlineMeter(b.hotline)
		endpoints[SysHotline] = b.endpoint(SysHotline, "")
	}
	if o.runs(SysFloor) {
		f, err := startFloor(ctx, o.Executable, b.dir, b.ast, o.Agents)
		if err != nil {
			return err
		}
		b.floor = f
		meters[SysFloor] = cpuMeter{"floor": f.pid()}
		endpoints[SysFloor] = b.endpoint(SysFloor, "")
	}
	// The decision series: light load, every agent free, ChannelDialplan
	// events on, so StasisStart (Queue()) → agent channel is timed from
	// the moment the caller enters the application.
	if !o.skips("decision") {
		for _, sys := range o.Systems {
			if err := b.warmUp(ctx, endpoints[sys]); err != nil {
				return fmt.Errorf("decision %s: warm-up: %w", sys, err)
			}
			res, err := b.level(ctx, "decision", sys, endpoints[sys], meters[sys], o.DecisionRate, o.DecisionDuration, o.Seed+1000)
			if err != nil {
				return err
			}
			b.rep.Decision = append(b.rep.Decision, res)
		}
	}
	b.obs.SetDialplan(ctx, false)
	defer b.obs.SetDialplan(context.WithoutCancel(ctx), true)
	failed := map[string]bool{}
ladder:
	for i, rate := range o.Rates {
		// The floor is the hotline's yardstick: once the hotline failed
		// a rate, the floor is not offered higher ones either (far past
		// them Asterisk itself gives up, as it did at 300/s).
		floorDone := failed[SysHotline]
		for _, sys := range o.Systems {
			if (failed[sys] || sys == SysFloor && floorDone) && !o.KeepGoing {
				b.rep.Levels = append(b.rep.Levels, LevelResult{System: sys, Rate: rate, Skipped: true})
				continue
			}
			if err := b.warmUp(ctx, endpoints[sys]); err != nil {
				return fmt.Errorf("capacity %s: warm-up: %w", sys, err)
			}
			res, err := b.level(ctx, "capacity", sys, endpoints[sys], meters[sys], rate, o.Duration, o.Seed+uint64(i))
			if err != nil && ctx.Err() == nil {
				// Asterisk can give up under a load far past every
				// system's capacity (seen at 300/s: its HTTP server
				// closed the connection): the level failed, the figures
				// so far stand, and no higher rate is offered to anyone.
				b.progress("capacity: %s at %.0f/s could not be run (%v); no higher rate is offered", sys, rate, err)
				b.rep.Levels = append(b.rep.Levels, LevelResult{System: sys, Rate: rate, Why: "the level could not be run: " + err.Error()})
				break ladder
			}
			if err != nil {
				return err
			}
			b.rep.Levels = append(b.rep.Levels, res)
			if !res.Sustained {
				failed[sys] = true
			}
		}
	}
	return nil
}

// level offers one system Poisson arrivals at rate for Duration.
func (b *realBench) level(ctx context.Context, phase, system, endpoint string, meter cpuMeter, rate float64, dur time.Duration, seed uint64) (LevelResult, error) {
	o := b.o
	sched := PoissonSchedule(rate, dur, seed)
	b.progress("%s: %s, %.0f calls/s Poisson for %s (%d callers), %d agents × %s", phase, system, rate, dur, len(sched), o.Agents, o.Talk)
	b.obs.Take()
	b.pl.takePlaced()
	meter = mapsClone(meter)
	meter["asterisk"] = b.ast.PID
	meter["bench"] = os.Getpid()
	all := b.allProcesses()
	cpu0, all0 := meter.snapshot(), all.snapshot()
	busy0, total0 := machineCPU()
	var before map[string]float64
	if system == SysHotline {
		before, _ = b.hotline.metrics(ctx, "hotline_")
	}
	var (
		wg   sync.WaitGroup
		errs atomic.Int64
		last atomic.Value
	)
	start := time.Now()
	for _, at := range sched {
		if err := sleepUntil(ctx, start.Add(at)); err != nil {
			return LevelResult{}, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.pl.place(ctx, endpoint); err != nil {
				errs.Add(1)
				last.Store(err.Error())
			}
		}()
	}
	wg.Wait()
	offeredFor := time.Since(start)
	forced, err := b.drainForced(ctx, o.Drain+time.Until(start.Add(dur)))
	if err != nil {
		return LevelResult{}, fmt.Errorf("capacity %s at %.0f/s: %w", system, rate, err)
	}
	res := LevelResult{System: system, Rate: rate, Offered: len(sched), OriginateErrors: int(errs.Load()),
		CPU: meter.since(cpu0), OfferedFor: offeredFor, Forced: !forced.IsZero()}
	busy1, total1 := machineCPU()
	if total1 > total0 {
		var ours time.Duration
		for _, d := range all.since(all0) {
			ours += d
		}
		res.MachineBusy = float64(busy1-busy0) / float64(total1-total0)
		res.Others = float64(busy1-busy0-ours) / float64(total1-total0)
	}
	if v, ok := last.Load().(string); ok {
		res.LastError = v
	}
	events := b.obs.Take()
	b.dumpTrace(fmt.Sprintf("%s-%s-%.0f", phase, system, rate), events)
	tr := buildTrace(events, phase == "decision")
	if !forced.IsZero() {
		// Calls the bench had to end count as failed.
		for _, c := range tr.callers {
			if c.Gone.After(forced) {
				c.halvesGone = 0
			}
		}
	}
	c := tr.capacity()
	res.Completed = c.Completed
	res.Waits, res.Decisions, res.Lag = NewDist(c.Waits), NewDist(c.Decisions), NewDist(tr.lag)
	res.judge()
	if system == SysHotline && before != nil {
		if after, err := b.hotline.metrics(ctx, "hotline_"); err == nil {
			res.Internals = internals(before, after)
		}
	}
	b.progress("%s: %s at %.0f/s: %d/%d completed, wait p50 %s p99 %s max %s, decision p50 %s; Asterisk CPU/call %s; machine %.0f%% busy, %.0f%% not ours%s",
		phase, system, rate, res.Completed, res.Offered, fmtDur(res.Waits.Q(0.5)), fmtDur(res.Waits.Q(0.99)), fmtDur(res.Waits.Max()),
		fmtDur(res.Decisions.Median()), cpuText(&res, "asterisk", !b.rep.CPUKnown), 100*res.MachineBusy, 100*res.Others, res.whyNot())
	return res, nil
}

// judge says whether the level was sustained: every caller offered was
// answered and done, no originate failed, and nobody waited a whole
// second.
func (r *LevelResult) judge() {
	var why []string
	if r.OriginateErrors > 0 {
		why = append(why, fmt.Sprintf("%d callers could not be placed (%s)", r.OriginateErrors, r.LastError))
	}
	if r.Completed < r.Offered {
		why = append(why, fmt.Sprintf("%d of %d callers not served", r.Offered-r.Completed, r.Offered))
	}
	if m := r.Waits.Max(); m >= time.Second {
		why = append(why, fmt.Sprintf("a caller waited %s", fmtDur(m)))
	}
	r.Sustained, r.Why = len(why) == 0, strings.Join(why, "; ")
}

func (r *LevelResult) whyNot() string {
	if r.Sustained {
		return ""
	}
	return " — NOT sustained: " + r.Why
}

// internals are the daemon's mean ARI request and Redis command times
// over a level, from its /metrics (for finding out where its time goes).
func internals(before, after map[string]float64) map[string]string {
	out := map[string]string{}
	for k, sum := range after {
		name, labels, ok := strings.Cut(k, "{")
		if !ok || !strings.HasSuffix(name, "_seconds_sum") {
			continue
		}
		base := strings.TrimSuffix(name, "_sum")
		cnt := after[base+"_count{"+labels] - before[base+"_count{"+labels]
		if cnt <= 0 {
			continue
		}
		mean := (sum - before[k]) / cnt
		short := strings.TrimPrefix(base, "hotline_")
		out[short+"{"+labels] = fmt.Sprintf("%.2fms ×%.0f", mean*1000, cnt)
	}
	return out
}

func mapsClone(m cpuMeter) cpuMeter {
	out := cpuMeter{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// machine describes this computer: CPU model and count.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs, %s", model, runtime.NumCPU(), runtime.Version())
}

// loadavg is the first three fields of /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// dumpTrace writes a series' observed events to DIR/traces/NAME.tsv when
// the run's directory is kept (--keep), to look into a figure afterwards.
func (b *realBench) dumpTrace(name string, events []obsEvent) {
	if !b.o.Keep {
		return
	}
	dir := filepath.Join(b.dir, "traces")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	var sb strings.Builder
	kinds := map[obsKind]string{evCreated: "created", evDestroyed: "destroyed", evUp: "up", evDialplan: "dialplan"}
	for _, e := range events {
		fmt.Fprintf(&sb, "%s\t%.3f\t%s\t%s\t%s\t%s\t%s\n", e.At.Format("15:04:05.000000"), float64(e.Lag.Microseconds())/1000,
			kinds[e.Kind], e.ID, e.Name, e.Caller, e.App)
	}
	_ = os.WriteFile(filepath.Join(dir, name+".tsv"), []byte(sb.String()), 0o644)
}
