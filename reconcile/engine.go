package reconcile

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// Key is a profile: the unit of work.
type Key = desired.Key

// Engine is what a service manager implements to be driven by the one
// planner: s6, systemd, launchd, Windows, Kubernetes. Render and Schedule
// are pure, Observe only reads, and Do carries out one step and decides
// nothing.
type Engine interface {
	// Render turns a desired service into what the engine would install.
	Render(svc desired.Service) (Spec, error)
	// Observe reads the units of keys (nil: every unit, leftovers and
	// foreign entries too). want holds the rendering of each key that has
	// one, so drift can be judged while reading.
	Observe(ctx context.Context, keys []Key, want map[Key]Spec) (Observed, error)
	// Schedule orders a plan into steps: where the engine needs barriers
	// (s6's single rescan) and waits, it puts them here.
	Schedule(p Plan) []Step
	// Do carries out one step.
	Do(ctx context.Context, s Step) error
}

// Prefetcher is an engine whose reading needs no rendering: Prefetch reads
// the units of keys and returns what judges them against the renderings
// (Observe's result), so a pass reads them beside the profiles, on another
// core, and judges once both are in.
type Prefetcher interface {
	Prefetch(ctx context.Context, keys []Key) func(want map[Key]Spec) (Observed, error)
}

// Noter is an engine that keeps a pass's notes with its units (Plan.Notes):
// what the next pass, or another process's, must know. Without it a note
// lives as long as the process (the watch loop's memory).
type Noter interface {
	Note(ctx context.Context, n Note) error
}

// Preparer is an engine whose renderings depend on inputs it reads itself
// (Kubernetes: each profile's env Secret, whose content hash is part of the
// pod template): Prepare reads them once per pass, before Render. An error
// fails the pass, as an Observe error does.
type Preparer interface {
	Prepare(ctx context.Context, keys []Key) error
}

// Prober is an engine that can say, before anything changes, that it
// cannot act at all (scandir read-only, s6-svscan not running): one clear
// error instead of one per action.
type Prober interface {
	Probe(ctx context.Context) error
}

// Effect is what rewriting a file does to a running service.
type Effect uint8

const (
	// NoEffect: the manager reads the file when it needs it (s6's finish and
	// type, a systemd unit: taken at the next start).
	NoEffect Effect = iota
	// RestartsService: the service runs it; a running gateway must be
	// restarted to pick it up (s6's run, a launchd plist).
	RestartsService
	// RestartsCompanion: the process the manager runs beside the service
	// runs it (s6's logger, log/run).
	RestartsCompanion
)

// File is one file of a rendering, its path relative to the unit.
type File struct {
	Path   string
	Mode   fs.FileMode
	Data   []byte
	Effect Effect
}

// Spec is the rendering of one service by an engine.
type Spec struct {
	// Unit is the service's name in the engine: slot, unit, label, task or
	// Deployment.
	Unit string
	// Hash identifies the rendering; an engine records it with what it
	// writes, so it can tell its own units from adopted ones.
	Hash  string
	Files []File
	// Payload is the engine's own form of the rendering (a host's unit
	// definition, a Deployment): it travels with the actions to Do, so
	// Render keeps no state.
	Payload any
}

// File returns the spec's file at path, or nil.
func (s *Spec) File(path string) *File {
	for i := range s.Files {
		if s.Files[i].Path == path {
			return &s.Files[i]
		}
	}
	return nil
}

// Unit is one service as an engine found it, in no engine's terms.
type Unit struct {
	Key  Key
	Name string
	// Ours is true when the unit carries the hash we record (we wrote it);
	// false when Hermes or a hand made it: it is adopted, never restarted.
	Ours bool
	// Hash is the recorded spec hash, "" when none.
	Hash string
	// Drift lists the files of the wanted rendering the unit lacks or holds
	// differently, in rendering order.
	Drift []string
	// Registered is true when the manager knows the unit and can control it
	// (s6: a supervisor holds the slot; a host: the unit is loaded).
	Registered bool
	// Stale is true when the gateway runs something older than what we
	// last wrote for it, as the unit records it: a pass killed between a
	// rewrite and its restart. Never for a process an adoption accepted.
	Stale bool
	// Adopted is when we took the unit over from another writer, accepting
	// the gateway running then as it is: what we wrote takes effect at its
	// next start. Zero when never.
	Adopted time.Time
	// Restarting is set while a restart of ours has the gateway down: one
	// found down with it set was left so by a pass that did not finish.
	Restarting bool
	// Companion is the process the manager runs beside the gateway, if
	// any (s6: the slot's logger, which the gateway's output blocks on).
	Companion Companion
	// Deaths are the gateway's recent deaths, oldest first (s6's death tally).
	Deaths []Death
	// Park is the crash-loop park recorded with the unit, nil when none.
	Park *Park
	// Rolled is when we last restarted the gateway for a new rendering (a
	// rollout's restart), as the unit records it; zero when never. The
	// rollout budget judges a batch from it.
	Rolled time.Time
	// Absent is when a pass first found the unit's profile gone (no
	// directory, no tombstone), as the unit records it; zero when it was
	// not. A removal waits --remove-after from it, whoever runs the pass.
	Absent time.Time
	// Running is true when the gateway process runs (or is being started).
	Running bool
	// WantUp is what the manager wants now (s6's want-up flag).
	WantUp bool
	// Persisted is true when the unit comes up by itself after its manager
	// restarts (s6: no down file; systemd: enabled).
	Persisted bool
	// Instances is how many gateways the manager is asked to run at once,
	// where it can be asked for several (a Deployment's replicas); 0 where
	// it runs one at most (s6, a host). Above 1 is drift: that many
	// gateways on one bot token.
	Instances int
	// Untouchable, when set, says why the unit must not be changed (a
	// symlink in a slot's place, a unit serving another HERMES_HOME).
	Untouchable string
	// Failing, when set, says why the manager cannot keep the gateway
	// running though it tries (a crash loop, an image it cannot pull, pods
	// an admission refuses): status counts it unhealthy, a rollout that
	// restarted it halts.
	Failing string
	// Blocked, when set, says why the unit's run state cannot be controlled
	// by us, and how to mend it (a supervise/ made by root before its
	// skeleton existed): its files are still kept current.
	Blocked string
	// What status shows.
	State            string // the manager's word: up, down, failed, unsupervised, activating…
	PID              int
	Since            time.Time // when Running last changed; zero when unknown
	ExitCode, Signal int       // of the last exit: -1 and 0 when none
	PermanentFailure bool      // finish asked not to restart (exit 125)
	Detail           string    // more of the manager's words
	// StatusErr is set when the run state could not be read.
	StatusErr error
	// Payload is the engine's own form of what it found (a host's unit
	// definition), for a removal's Do: a unit whose profile is gone has no
	// rendering to carry it.
	Payload any
}

// Death is one exit of a gateway.
type Death struct {
	At time.Time
	// Exit is the exit code; Signal the signal that killed it, 0 when none.
	Exit, Signal int
}

// Crash reports whether a death counts towards a crash loop: anything but
// a clean exit (0; finish parks those itself) and the signals a stop sends.
func (d Death) Crash() bool {
	switch d.Signal {
	case 0:
		return d.Exit != 0
	case 1, 2, 15: // SIGHUP, SIGINT, SIGTERM: asked to stop
		return false
	}
	return true
}

// Park is a crash loop stopped: when, why, and how often this unit was
// parked since an operator last unparked it.
type Park struct {
	At        time.Time `json:"at"`
	Why       string    `json:"why"`
	Count     int       `json:"count"`
	LastExits []string  `json:"last_exits,omitempty"`
	// Lifted is when it was started again (its inputs changed, or an
	// operator unparked it); zero while parked. The record stays, so a next
	// park knows it is a repeat and deaths before it no longer count.
	Lifted time.Time `json:"lifted,omitzero"`
}

// Unparked reports whether the park was lifted.
func (p *Park) Unparked() bool { return p != nil && !p.Lifted.IsZero() }

// Companion is a process the manager runs beside a gateway, with its own
// run state and script (s6: the slot's logger).
type Companion struct {
	// Registered is true when the manager runs one.
	Registered bool
	Running    bool
	WantUp     bool
	// Stale is true when it runs something older than we last wrote.
	Stale bool
}

// Stray is an entry beside the units that is no unit: one of ours an
// interrupted pass left (a unit in the making, or one retired), cleaned;
// or another writer's in the making (the Hermes CLI's slot being staged),
// never touched and mentioned when it lingers.
type Stray struct {
	Name string
	// Ours is true for our own leftovers; Live for one that may still be
	// run by the manager (a retired unit), which cleaning must see off.
	Ours, Live bool
	// Since is when it was last changed.
	Since time.Time
}

// Observed is what an engine found for the keys it was asked about.
type Observed struct {
	// Keys are the profiles observed, sorted; nil: everything.
	Keys []Key
	// Units holds one entry per key that has a unit.
	Units map[Key]*Unit
	// Strays and Others are only filled by a full observation.
	Strays []Stray
	// Others counts what the engine manages beside our units (other
	// services in the scandir): never touched, but they count against a
	// capacity.
	Others int
	// Capacity is how many services the manager says it will supervise (a
	// full observation; 0: no limit known). Policy.Capacity overrides it.
	Capacity int
}

// Covers reports whether the observation speaks for key k.
func (o *Observed) Covers(k Key) bool {
	if o.Keys == nil {
		return true
	}
	for _, x := range o.Keys {
		if x == k {
			return true
		}
	}
	return false
}

// Op is an engine's verb: each engine has its own typed set (s6: publish,
// rescan…; a host: install, start…).
type Op interface{ String() string }

// Step is one thing an engine does, on behalf of one or more actions of a
// plan. The executor drops the actions of a key that failed before and
// skips a step left with none.
type Step struct {
	Op Op
	// For are the indices, in the plan, of the actions the step carries out;
	// Acts are those actions.
	For  []int
	Acts []Action
	// Name is a name the engine chose for the step (a retired slot's name).
	Name string
}

// StepErrors is what Do returns when a step that serves several actions
// failed for some of them only: the error of each, by its index in For.
type StepErrors map[int]error

func (e StepErrors) Error() string {
	var msgs []string
	for _, err := range e {
		if err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	return strings.Join(msgs, "; ")
}

// ErrSuperseded marks a step another writer made needless by doing the
// same meanwhile (the Hermes CLI published the slot we were staging). It is
// not a failure: the next pass over the key sees what that writer did.
var ErrSuperseded = errors.New("superseded: another writer did it meanwhile")

// Caveat is returned by a step that reached its end otherwise than asked:
// a restart whose stop outlasted the timeout and was killed. It is no
// failure; the executor reports it with the action.
type Caveat struct{ Msg string }

func (c *Caveat) Error() string { return c.Msg }

// TerminalError marks a failure retrying cannot mend (a setting that
// cannot be rendered): it is reported, and not retried until its inputs
// change.
type TerminalError struct{ Err error }

func (e *TerminalError) Error() string { return e.Err.Error() }
func (e *TerminalError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, &TerminalError{}) true for any terminal error.
func (e *TerminalError) Is(target error) bool {
	_, ok := target.(*TerminalError)
	return ok
}

// Terminal wraps err as a TerminalError.
func Terminal(err error) error {
	if err == nil {
		return nil
	}
	return &TerminalError{Err: err}
}

// IsTerminal reports whether err must not be retried.
func IsTerminal(err error) bool { return errors.Is(err, &TerminalError{}) }
