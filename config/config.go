// Package config holds the reconciler's own settings: where to look, how to
// talk to s6, and how to render a slot. cmd/ fills one Config from flags and
// HERMES_RECONCILE_* variables once and passes it down; nothing here reads
// the environment on its own.
package config

import (
	"time"
)

// Output formats for plans, results and status.
const (
	OutputText = "text"
	OutputJSON = "json"
)

// The conflict guard's modes (--conflicts).
const (
	ConflictsHold = "hold"
	ConflictsWarn = "warn"
)

// Config is everything the reconciler needs to know about its installation.
type Config struct {
	// Home is HERMES_HOME: the profile root or a named profile under it.
	// Default: --home, else HERMES_HOME, else /opt/data (s6) or ~/.hermes (host).
	Home string
	// Scandir is the directory s6-svscan watches.
	// Default /run/service (HERMES_RECONCILE_SCANDIR, S6_PROFILE_GATEWAY_SCANDIR).
	Scandir string
	// S6Bindir is searched first for s6 programs, then PATH.
	// Default /command (HERMES_RECONCILE_S6_BINDIR).
	S6Bindir string
	// Output is "text" or "json" (HERMES_RECONCILE_OUTPUT). Default text.
	Output string
	// DetailedExitcode makes a pass that needed changes exit 2
	// (HERMES_RECONCILE_DETAILED_EXITCODE). Default false.
	DetailedExitcode bool
	// Strict makes diagnostics fail the pass (HERMES_RECONCILE_STRICT). Default false.
	Strict bool
	// LockTimeout bounds the wait for the single-writer lock
	// (HERMES_RECONCILE_LOCK_TIMEOUT). Default 30s.
	LockTimeout time.Duration
	// SuperviseTimeout bounds each wait on s6: a new slot becoming supervised,
	// a gateway going down, a removed supervisor exiting
	// (HERMES_RECONCILE_SUPERVISE_TIMEOUT). Default 10s.
	SuperviseTimeout time.Duration
	// MaxServices is the s6-svscan service limit the plan is checked against
	// and waits respect (HERMES_RECONCILE_MAX_SERVICES). Default 0: learned
	// from the running s6-svscan's -c, else s6 2.11's default of 500.
	MaxServices int
	// Settle is how long another writer (the Hermes CLI) gets to finish what
	// it started before a pass acts against it: a new profile's slot, a slot
	// it removed, a run state it changed before writing the intent
	// (HERMES_RECONCILE_SETTLE). Default 2s; 0 acts at once.
	Settle time.Duration
	// RemoveAfter is how long a profile's directory must be gone (without a
	// tombstone) before its unit is removed: a restore, a rename by hand or
	// a volume half there must not cost the gateway
	// (HERMES_RECONCILE_REMOVE_AFTER). Default 1m; 0 removes at once.
	RemoveAfter time.Duration
	// Conflicts is what the conflict guard does with a gateway that would
	// claim a credential or port another gateway holds: hold (not started)
	// or warn (HERMES_RECONCILE_CONFLICTS). Default hold.
	Conflicts string
	// RolloutHealthyAfter and RolloutTimeout pace a rollout (restarts of
	// running gateways past --rollout-batch): a restarted gateway is
	// healthy once up, without a death, for RolloutHealthyAfter; one not
	// healthy within RolloutTimeout halts the rollout
	// (HERMES_RECONCILE_ROLLOUT_HEALTHY_AFTER, _ROLLOUT_TIMEOUT). Default
	// 10s and 2m.
	RolloutHealthyAfter, RolloutTimeout time.Duration
	// CrashLoopDeaths and CrashLoopWindow are the crash-loop guard: a
	// gateway that died CrashLoopDeaths times within CrashLoopWindow (not
	// counting stops) is parked down until its inputs or intent change, or
	// `hermes-reconcile unpark` (HERMES_RECONCILE_CRASH_LOOP_DEATHS,
	// HERMES_RECONCILE_CRASH_LOOP_WINDOW). Default 5 in 60s; 0 deaths: no
	// guard.
	CrashLoopDeaths int
	CrashLoopWindow time.Duration

	// Topology forces the topology: per-profile or multiplex; auto decides
	// as the installed Hermes does (HERMES_RECONCILE_TOPOLOGY). Default auto.
	Topology string
	// HermesRoot is the Hermes checkout whose version auto reads
	// (HERMES_RECONCILE_HERMES_ROOT). Default /opt/hermes, as in Hermes's
	// image; ~/.hermes/hermes-agent on a host.
	HermesRoot string
	// HermesVersion, when set, is the Hermes version auto decides by
	// instead of reading HermesRoot: a cluster's gateway image
	// (HERMES_RECONCILE_HERMES_VERSION). Default none.
	HermesVersion string

	// Render shapes the files of every slot.
	Render Render
	// Watch tunes the long-running mode.
	Watch Watch
	// Host is the host service managers' (no s6).
	Host Host
	// Kube is the Kubernetes engine's.
	Kube Kube
}

// Host holds the settings of the host service managers.
type Host struct {
	// System makes systemd's unit a system unit run as Render.User (root
	// only) instead of a user unit (HERMES_RECONCILE_SYSTEM). Default false.
	System bool
	// RestartSec is how many seconds an exited gateway waits before its
	// restart: systemd's RestartSec, launchd's ThrottleInterval
	// (HERMES_RECONCILE_RESTART_SEC). Default 5.
	RestartSec int
}

// Kube holds the settings of the Kubernetes engine.
type Kube struct {
	// Namespace of the Deployments and the Lease; default the pod's
	// (HERMES_RECONCILE_KUBE_NAMESPACE).
	Namespace string
	// Kubeconfig names the API server; default $KUBECONFIG, ~/.kube/config,
	// else in-cluster (HERMES_RECONCILE_KUBECONFIG).
	Kubeconfig string
	// Image is the Hermes image of the gateway pods; required
	// (HERMES_RECONCILE_KUBE_IMAGE).
	Image string
	// Claim is the data volume's PersistentVolumeClaim, mounted at Mount
	// (HERMES_RECONCILE_KUBE_CLAIM, _MOUNT). Default hermes-data at /opt/data.
	Claim, Mount string
	// Requests and Limits are the gateway container's resources, as
	// "cpu=100m,memory=256Mi" (HERMES_RECONCILE_KUBE_REQUESTS, _LIMITS).
	// Default none.
	Requests, Limits string
	// TemplatePatch is the path of a strategic-merge patch (YAML or JSON)
	// applied to every gateway's pod template: pull secrets, scheduling,
	// probes, annotations, resources (HERMES_RECONCILE_KUBE_TEMPLATE_PATCH).
	// Its content is part of the spec hash. Default none.
	TemplatePatch string
	// LeaderElect takes a Lease before acting (HERMES_RECONCILE_LEADER_ELECT).
	// Default true.
	LeaderElect bool
	// HealthAddr serves /healthz and /readyz; "0" turns it off
	// (HERMES_RECONCILE_HEALTH_ADDR). Default :8081. The controller's
	// /metrics is Watch.MetricsAddr.
	HealthAddr string
	// UID and GID the gateway pods run as: Hermes's image's hermes user,
	// 10000.
	UID, GID int64
	// QPS and Burst bound the API client (HERMES_RECONCILE_KUBE_QPS,
	// _BURST); Workers is how many API writes a pass makes at once
	// (HERMES_RECONCILE_KUBE_WORKERS). Default 50, 100 and 4: client-go's
	// own 5 and 10 made a cold pass of 1,000 profiles take 200 s; the API
	// server's priority and fairness protects it from a client that asks
	// more, as it does kube-controller-manager's.
	QPS     float64
	Burst   int
	Workers int
}

// Render holds the installation-specific parts of a slot. With the defaults
// the files are byte for byte what Hermes's own S6ServiceManager writes.
type Render struct {
	// Shebang is the first line of run, finish and log/run.
	// Default "#!/command/with-contenv sh" (HERMES_RECONCILE_SHEBANG).
	Shebang string
	// HomeDir is exported as HOME and is the working directory of the gateway.
	// Default /opt/data (HERMES_RECONCILE_HOME_DIR).
	HomeDir string
	// DefaultHermesHome is log/run's fallback when HERMES_HOME is unset at run
	// time. Default /opt/data (HERMES_RECONCILE_LOG_HERMES_HOME).
	DefaultHermesHome string
	// Prelude lines go right after "cd HomeDir", e.g. ". /opt/hermes/.venv/bin/activate".
	// Default none (HERMES_RECONCILE_PRELUDE, lines separated by newlines).
	Prelude []string
	// User is the account the gateway and logger drop to when started as
	// root. Empty means never drop. Default hermes (HERMES_RECONCILE_USER).
	User string
	// GatewayCommand is the program run as "<cmd> [-p name] gateway run --replace".
	// Default hermes (HERMES_RECONCILE_GATEWAY_COMMAND).
	GatewayCommand string
	// LogScript is s6-log's logging script before the directory.
	// Default "1 n10 s1000000 T" (HERMES_RECONCILE_LOG_SCRIPT).
	LogScript string
	// Env is exported to every gateway, sorted by key, values single-quoted.
	// Default none (HERMES_RECONCILE_ENV, K=V lines).
	Env map[string]string
	// ServiceUID and ServiceGID own the supervise skeleton when the reconciler
	// runs as root. -1 means look up User, else 10000.
	ServiceUID, ServiceGID int
}

// Watch tunes the control loop.
type Watch struct {
	// Quiet is how long events must stop before a pass (default 100ms).
	Quiet time.Duration
	// MaxDelay caps the wait after the first event of a burst (default 1s).
	MaxDelay time.Duration
	// Resync is the mean period of full passes without events (default 5m,
	// jittered by up to 10%).
	Resync time.Duration
	// NotifyFD, when >= 0, gets a newline after the first complete pass.
	NotifyFD int
	// Poll, when positive, also stats the profiles this often: inotify
	// does not see writes by other NFS clients or hosts
	// (HERMES_RECONCILE_POLL). Default 0 (off); KubePoll for the
	// controller, whose volume other nodes write.
	Poll time.Duration
	// BackoffMin and BackoffMax bound the per-profile and whole-pass backoff
	// (default 1s and 5m).
	BackoffMin, BackoffMax time.Duration
	// MetricsAddr is where watch mode serves /metrics (and, but for the
	// controller, whose health is on Kube.HealthAddr, /healthz); "" or "0"
	// turns it off (HERMES_RECONCILE_METRICS_ADDR). Default off;
	// KubeMetricsAddr for the controller.
	MetricsAddr string
}

// Unhealthy is how many resync periods watch mode may go without a pass
// that succeeds before /healthz fails: a full pass runs at least once per
// period, so three missed in a row is no bad luck.
const Unhealthy = 3

// Default returns the settings of a Hermes container.
func Default() Config {
	return Config{
		Home:                "",
		Scandir:             "/run/service",
		S6Bindir:            "/command",
		Output:              OutputText,
		LockTimeout:         30 * time.Second,
		SuperviseTimeout:    10 * time.Second,
		MaxServices:         0,
		Settle:              2 * time.Second,
		RemoveAfter:         time.Minute,
		Conflicts:           ConflictsHold,
		RolloutHealthyAfter: 10 * time.Second,
		RolloutTimeout:      2 * time.Minute,
		Topology:            "auto",
		HermesRoot:          "/opt/hermes",
		CrashLoopDeaths:     5,
		CrashLoopWindow:     time.Minute,
		Render:              DefaultRender(),
		Host:                Host{RestartSec: 5},
		Kube: Kube{Claim: "hermes-data", Mount: "/opt/data", LeaderElect: true, HealthAddr: ":8081",
			UID: 10000, GID: 10000, QPS: 50, Burst: 100, Workers: 4},
		Watch: Watch{
			Quiet:      100 * time.Millisecond,
			MaxDelay:   time.Second,
			Resync:     5 * time.Minute,
			NotifyFD:   -1,
			BackoffMin: time.Second,
			BackoffMax: 5 * time.Minute,
		},
	}
}

// KubeMetricsAddr is the controller's default MetricsAddr.
const KubeMetricsAddr = ":8080"

// KubePoll is the controller's default Poll: its data volume is written by
// gateway pods on other nodes.
const KubePoll = 2 * time.Second

// DefaultRender returns the rendering Hermes's S6ServiceManager uses.
func DefaultRender() Render {
	return Render{
		Shebang:           "#!/command/with-contenv sh",
		HomeDir:           "/opt/data",
		DefaultHermesHome: "/opt/data",
		User:              "hermes",
		GatewayCommand:    "hermes",
		LogScript:         "1 n10 s1000000 T",
		ServiceUID:        -1,
		ServiceGID:        -1,
	}
}
