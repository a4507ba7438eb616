#!/usr/bin/env bash
# assets.sh [OUT]: build what test/testkit/cluster needs for a "real" test
# cluster without a kubelet, from the Go module proxy, cache it in OUT and
# print OUT as the last line on stdout, so that
#
#     KUBEBUILDER_ASSETS=$(test/cluster/assets.sh) go test ./test/cluster/
#
# works. Everything else goes to stderr. OUT then holds:
#
#   kube-apiserver, etcd      through test/envtest/assets.sh OUT (so the one
#                             directory serves envtest too)
#   kube-controller-manager,  k8s.io/kubernetes (same version as kube-apiserver)
#   kube-scheduler
#   kwok                      sigs.k8s.io/kwok/cmd/kwok, built against the same
#                             k8s.io/* line as the control plane
#   kwok-config/crd/          kwok's Stage CRD
#   kwok-config/stages/       kwok's default Stages (what kwokctl feeds it):
#                             node-fast node-initialize, node-heartbeat-with-lease,
#                             pod-fast pod-ready, pod-complete, pod-delete
#
# OUT is $1, else $KUBEBUILDER_ASSETS, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/hermes-reconcile/cluster/k8s-<K8S>-kwok-<KWOK>.
#
# When everything is there and reports the expected version, it exits at once
# (~0.2 s: five --version calls). Otherwise it builds what is missing. On 2
# cores: fully cold ~8 min (kube-apiserver ~5 min, then kube-controller-manager
# ~1.5 min, kube-scheduler ~10 s, kwok ~15-20 s), ~2.6 GiB RAM at the
# kube-controller-manager link, ~5 GiB of Go module and build cache; all five
# with warm Go caches ~22 s.
#
#   kube-controller-manager, kube-scheduler: one wrapper module with two mains,
#     upstream cmd/kube-controller-manager/controller-manager.go and
#     cmd/kube-scheduler/scheduler.go, requiring k8s.io/kubernetes with one
#     `replace k8s.io/X v0.0.0 => k8s.io/X v0.N.P` per staging module (as
#     test/envtest/assets.sh does for kube-apiserver);
#   kwok: a wrapper module whose main.go is upstream cmd/kwok/main.go, with
#     every k8s.io/X v0.M.Q that sigs.k8s.io/kwok requires raised to v0.N.P
#     (kwok has no replace directives; this shares the control plane's build
#     cache). The Stage CRD and default Stages are copied from the same module,
#     so that nothing at run time needs the module cache.
#
# Binaries are built with CGO_ENABLED=0 -trimpath into a temporary name,
# checked with --version and renamed into place; kwok-config is assembled in a
# temporary directory and renamed too, with a stamp (kwok-config/.build) that
# names the kwok and k8s.io/* versions, so an interrupted build never leaves
# anything that the fast path would accept.
#
# GOPROXY, GOMODCACHE, GOCACHE, GOSUMDB, ... are honoured from the environment;
# GOWORK is turned off and GOFLAGS replaced. Versions: ENVTEST_K8S_VERSION
# (v1.N.P, shared with test/envtest/assets.sh), CLUSTER_KWOK_VERSION (v0.8.0).
set -euo pipefail

K8S_VERSION=${ENVTEST_K8S_VERSION:-v1.37.2}
KWOK_VERSION=${CLUSTER_KWOK_VERSION:-v0.8.0}

# All progress goes to stderr; fd 3 is the real stdout, for the last line only.
exec 3>&1 1>&2

prog=${0##*/}
log() { printf 'cluster/%s: %s\n' "$prog" "$*"; }
die() {
	printf 'cluster/%s: error: %s\n' "$prog" "$*"
	exit 1
}

if [[ ! $K8S_VERSION =~ ^v1\.([0-9]+)\.([0-9]+)$ ]]; then
	die "ENVTEST_K8S_VERSION must look like v1.37.2, got '$K8S_VERSION'"
fi
STAGING_VERSION="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
K8S_MINOR=${BASH_REMATCH[1]}
if [[ ! $KWOK_VERSION =~ ^v0\.[0-9]+\.[0-9]+$ ]]; then
	die "CLUSTER_KWOK_VERSION must look like v0.8.0, got '$KWOK_VERSION'"
fi
# What kwok-config/.build must say: the kwok binary and its YAMLs belong together.
KWOK_STAMP="sigs.k8s.io/kwok $KWOK_VERSION k8s.io/* $STAGING_VERSION"

# Paths in the sigs.k8s.io/kwok module of the Stage CRD and the default Stages.
KWOK_CRD=kustomize/crd/bases/kwok.x-k8s.io_stages.yaml
KWOK_STAGES=(
	kustomize/stage/node/fast/node-initialize.yaml
	kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
	kustomize/stage/pod/fast/pod-ready.yaml
	kustomize/stage/pod/fast/pod-complete.yaml
	kustomize/stage/pod/fast/pod-delete.yaml
)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ENVTEST_ASSETS="$HERE/../envtest/assets.sh"
[[ -f $ENVTEST_ASSETS ]] || die "$ENVTEST_ASSETS is missing"

if (($# > 1)); then
	die "usage: $prog [OUTPUT_DIR]"
fi
if (($# == 1)) && [[ -n $1 ]]; then
	OUT=$1
elif [[ -n ${KUBEBUILDER_ASSETS:-} ]]; then
	OUT=$KUBEBUILDER_ASSETS
else
	OUT="${XDG_CACHE_HOME:-${HOME:?neither XDG_CACHE_HOME nor HOME is set}/.cache}/hermes-reconcile/cluster/k8s-${K8S_VERSION}-kwok-${KWOK_VERSION}"
fi

# --- checks -------------------------------------------------------------------
# Each reads the whole --version output into a variable and compares in bash:
# no `| grep -q` (under pipefail, grep -q exiting at the first match can
# SIGPIPE the binary and fail a pipeline that found what it looked for).

# k8s_ok FILE: FILE --version prints "Kubernetes v1.N.P".
k8s_ok() {
	local v
	[[ -f $1 && -x $1 ]] || return 1
	v=$("$1" --version 2>/dev/null) || return 1
	[[ $v == "Kubernetes ${K8S_VERSION}" ]]
}
# kwok_ok FILE CONFIGDIR: FILE --version names KWOK_VERSION ("kwok version
# v0.8.0 go1.26.8 (linux/amd64)") and CONFIGDIR has the CRD, the Stages and
# the stamp of this kwok build.
kwok_ok() {
	local v f
	[[ -f $1 && -x $1 ]] || return 1
	v=$("$1" --version 2>/dev/null) || return 1
	[[ " $v " == *" $KWOK_VERSION "* ]] || return 1
	[[ -f $2/.build && $(<"$2/.build") == "$KWOK_STAMP" ]] || return 1
	[[ -s $2/crd/${KWOK_CRD##*/} ]] || return 1
	for f in "${KWOK_STAGES[@]}"; do
		[[ -s $2/stages/${f##*/} ]] || return 1
	done
}
cluster_ok() {
	k8s_ok "$OUT/kube-controller-manager" && k8s_ok "$OUT/kube-scheduler" &&
		kwok_ok "$OUT/kwok" "$OUT/kwok-config"
}

# envtest_check: test/envtest/assets.sh OUT, in the foreground (its fast path:
# two --version calls), printing OUT last.
envtest_check() {
	local out
	out=$(ENVTEST_K8S_VERSION=$K8S_VERSION bash "$ENVTEST_ASSETS" "$OUT") || return
	[[ ${out##*$'\n'} == "$OUT" ]] || die "test/envtest/assets.sh printed '${out##*$'\n'}', not $OUT"
}

done_out() {
	printf '%s\n' "$OUT" >&3
	exit 0
}

# --- fast path: everything present and of the right version ------------------

if [[ $OUT == /* ]] && cluster_ok; then
	envtest_check
	done_out
fi

# --- slow path ----------------------------------------------------------------

mkdir -p "$OUT" || die "cannot create output directory $OUT"
OUT=$(cd "$OUT" && pwd -P) || die "cannot enter output directory $OUT"

now() { printf '%s' "${EPOCHREALTIME:-$(date +%s.%N)}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
T0=$(now)

# On any failure, name the step it happened in; always remove temporary files.
STEP="setup"
TMPFILES=()
CHILD=
# shellcheck disable=SC2317 # run through trap/step, which shellcheck cannot see
on_exit() {
	local rc=$?
	if [[ -n $CHILD ]]; then
		# Interrupted: stop go (or test/envtest/assets.sh) and what it started.
		kill -TERM -- "-$CHILD" 2>/dev/null || true
		wait "$CHILD" 2>/dev/null || true
		for _ in {1..50}; do
			kill -0 -- "-$CHILD" 2>/dev/null || break
			sleep 0.1
		done
	fi
	if ((${#TMPFILES[@]})); then
		rm -rf "${TMPFILES[@]}"
	fi
	if ((rc != 0)); then
		printf 'cluster/%s: FAILED in step "%s" (exit %d) after %ss; nothing half-built was left in %s\n' \
			"$prog" "$STEP" "$rc" "$(since "$T0")" "$OUT" >&2
	fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# step NAME CMD...: run CMD as step NAME, timed; fail naming the step.
step() {
	local name=$1 t rc=0
	shift
	STEP=$name
	t=$(now)
	log "==> $name"
	"$@" || rc=$?
	if ((rc != 0)); then
		die "step \"$name\" failed (exit $rc) after $(since "$t")s"
	fi
	log "<== $name: $(since "$t")s"
}

# bg [-o FILE] CMD...: run CMD (its stdout to FILE) in its own process group
# and wait for it, so that a signal to this script is handled at once and
# on_exit can stop all of CMD. (Not `bg CMD >FILE`: the traps run inside bg,
# and their messages would go to FILE.)
# shellcheck disable=SC2317 # run through trap/step, which shellcheck cannot see
bg() {
	local rc=0 out=
	if [[ $1 == -o ]]; then
		out=$2
		shift 2
	fi
	set -m
	if [[ -n $out ]]; then
		"$@" </dev/null >"$out" &
	else
		"$@" </dev/null &
	fi
	CHILD=$!
	set +m
	wait "$CHILD" || rc=$?
	CHILD=
	return "$rc"
}

# envtest_build: test/envtest/assets.sh OUT (builds kube-apiserver and etcd
# when missing; takes OUT/.lock), in its own process group.
# shellcheck disable=SC2317 # run through trap/step, which shellcheck cannot see
envtest_build() {
	local tmp="$OUT/.envtest-assets.out.$$" last
	TMPFILES+=("$tmp")
	bg -o "$tmp" env "ENVTEST_K8S_VERSION=$K8S_VERSION" bash "$ENVTEST_ASSETS" "$OUT" || return
	last=$(tail -n 1 "$tmp")
	[[ $last == "$OUT" ]] || die "test/envtest/assets.sh printed '$last', not $OUT"
}

# One build at a time per OUT; re-check after waiting. (.cluster.lock: OUT/.lock
# is test/envtest/assets.sh's, taken by it while this one holds ours.)
if command -v flock >/dev/null; then
	STEP="lock $OUT/.cluster.lock"
	exec 9>"$OUT/.cluster.lock"
	if ! flock -n 9; then
		log "another build is running for $OUT; waiting for it"
		flock 9
	fi
fi

step "kube-apiserver and etcd (test/envtest/assets.sh $OUT)" envtest_build
if cluster_ok; then
	log "kube-controller-manager, kube-scheduler and kwok already in $OUT"
	done_out
fi

STEP="check go"
command -v go >/dev/null || die "go is not on PATH (Go >= 1.26 is needed)"
# Settings that would break the wrapper modules or the binaries. GOFLAGS is set
# (not emptied: an empty value falls back to `go env -w GOFLAGS=...`).
export GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0
unset GOOS GOARCH
GOVERSION=$(go env GOVERSION) || die "go env failed"
if [[ $GOVERSION =~ ^go1\.([0-9]+) ]] && ((BASH_REMATCH[1] < 26)) && [[ $(go env GOTOOLCHAIN) == local ]]; then
	die "$GOVERSION is too old: k8s.io/kubernetes $K8S_VERSION and kwok $KWOK_VERSION need Go >= 1.26 (GOTOOLCHAIN=local)"
fi
log "building cluster assets into $OUT with $GOVERSION (GOPROXY=$(go env GOPROXY), GOMODCACHE=$(go env GOMODCACHE), GOCACHE=$(go env GOCACHE))"

BUILD="$OUT/.build"
rm -rf "$OUT"/.kube-controller-manager.tmp.* "$OUT"/.kube-scheduler.tmp.* "$OUT"/.kwok.tmp.* \
	"$OUT"/.kwok-config.tmp.* "$OUT"/.envtest-assets.out.*

# json_field NAME: the first string value of "NAME" in go's indented JSON on stdin.
json_field() {
	sed -n 's/^[[:space:]]*"'"$1"'": "\(.*\)",\{0,1\}$/\1/p;T;q'
}

# download MOD@VER: `go mod download -json`; sets DL_JSON. Errors come as JSON
# on stdout with a non-zero exit, so print it then.
DL_JSON=
# shellcheck disable=SC2317 # run through trap/step, which shellcheck cannot see
download() {
	local rc=0
	DL_JSON=$(go mod download -json "$1") || rc=$?
	if ((rc != 0)); then
		printf '%s\n' "$DL_JSON"
		log "go mod download $1 failed (exit $rc); the error is above"
		return "$rc"
	fi
}

# new_module DIR NAME: an empty wrapper module (recreated every time).
# shellcheck disable=SC2317 # run through trap/step, which shellcheck cannot see
new_module() {
	rm -rf "$1" && mkdir -p "$1" && (cd "$1" && go mod init "$2")
}

# install_binary TMP NAME CHECK...: run CHECK... TMP, then rename TMP into place.
# shellcheck disable=SC2317 # run through trap/step, which shellcheck cannot see
install_binary() {
	local tmp=$1 name=$2
	shift 2
	if ! "$@"; then
		"$tmp" --version || true
		log "$name --version does not report the expected version"
		return 1
	fi
	mv -f "$tmp" "$OUT/$name"
}

# --- kube-controller-manager, kube-scheduler ------------------------------------

build_k8s_components() {
	local dir="$BUILD/k8s-components" kdir gomod info commit bdate tmp m pkg c
	local -a staging replaces ldflags
	step "k8s components: init wrapper module" new_module "$dir" hermes-reconcile.local/cluster/k8s-components
	cd "$dir"
	step "k8s components: go mod download k8s.io/kubernetes@$K8S_VERSION" download "k8s.io/kubernetes@$K8S_VERSION"
	kdir=$(json_field Dir <<<"$DL_JSON")
	info=$(json_field Info <<<"$DL_JSON")
	[[ -n $kdir && -f $kdir/go.mod && -f $kdir/cmd/kube-controller-manager/controller-manager.go &&
		-f $kdir/cmd/kube-scheduler/scheduler.go ]] ||
		die "go mod download k8s.io/kubernetes@$K8S_VERSION gave no usable Dir: $DL_JSON"
	gomod=$kdir/go.mod

	STEP="k8s components: generate replace block from $gomod"
	# Every k8s.io/* module that k8s.io/kubernetes requires at v0.0.0 is a
	# staging module (its go.mod replaces it with ./staging/src/k8s.io/X).
	mapfile -t staging < <(awk '
		$1 == "require" && $2 == "(" { inreq = 1; next }
		inreq && $1 == ")" { inreq = 0; next }
		inreq && $1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }
		$1 == "require" && $2 ~ /^k8s\.io\// && $3 == "v0.0.0" { print $2 }
	' "$gomod" | sort -u)
	((${#staging[@]} > 0)) || die "found no staging modules (k8s.io/* v0.0.0) in $gomod"
	replaces=()
	for m in "${staging[@]}"; do
		replaces+=("-replace=$m@v0.0.0=$m@$STAGING_VERSION")
	done
	log "$gomod: ${#staging[@]} staging modules, replaced with $STAGING_VERSION"

	STEP="k8s components: write the mains and go.mod"
	mkdir -p kube-controller-manager kube-scheduler
	cp "$kdir/cmd/kube-controller-manager/controller-manager.go" kube-controller-manager/main.go
	cp "$kdir/cmd/kube-scheduler/scheduler.go" kube-scheduler/main.go
	chmod u+w kube-controller-manager/main.go kube-scheduler/main.go
	go mod edit "-require=k8s.io/kubernetes@$K8S_VERSION" "${replaces[@]}"

	step "k8s components: go mod tidy" bg go mod tidy

	# Version stamping as hack/lib/version.sh does it.
	commit=$(grep -o '"Hash": *"[0-9a-f]\{40\}"' "$info" 2>/dev/null | grep -o '[0-9a-f]\{40\}' | head -n 1 || true)
	bdate=$(grep -o '"Time": *"[^"]*"' "$info" 2>/dev/null | sed 's/.*"\([^"]*\)"$/\1/' | head -n 1 || true)
	bdate=${bdate:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
	ldflags=(-s -w)
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=(-X "$pkg.gitVersion=$K8S_VERSION" -X "$pkg.gitMajor=1" -X "$pkg.gitMinor=$K8S_MINOR"
			-X "$pkg.buildDate=$bdate")
		if [[ -n $commit ]]; then
			ldflags+=(-X "$pkg.gitCommit=$commit" -X "$pkg.gitTreeState=clean")
		fi
	done
	# One at a time: the kube-controller-manager link alone peaks at ~2.6 GiB.
	for c in kube-controller-manager kube-scheduler; do
		if k8s_ok "$OUT/$c"; then
			log "$c $K8S_VERSION already in $OUT"
			continue
		fi
		tmp="$OUT/.$c.tmp.$$"
		TMPFILES+=("$tmp")
		step "$c: go build" bg go build -trimpath -ldflags "${ldflags[*]}" -o "$tmp" "./$c"
		step "$c: check --version and install" install_binary "$tmp" "$c" k8s_ok "$tmp"
	done
}

# --- kwok -------------------------------------------------------------------------

# install_kwok TMP CONFIGTMP: check both, then rename both into place (binary first:
# until kwok-config with its stamp is in place, the fast path rejects the pair).
# shellcheck disable=SC2317 # run through trap/step, which shellcheck cannot see
install_kwok() {
	install_binary "$1" kwok kwok_ok "$1" "$2" &&
		rm -rf "$OUT/kwok-config" && mv "$2" "$OUT/kwok-config"
}

build_kwok() {
	local dir="$BUILD/kwok" kdir gomod tmp cfg f
	local -a raise
	step "kwok: init wrapper module" new_module "$dir" hermes-reconcile.local/cluster/kwok
	cd "$dir"
	step "kwok: go mod download sigs.k8s.io/kwok@$KWOK_VERSION" download "sigs.k8s.io/kwok@$KWOK_VERSION"
	kdir=$(json_field Dir <<<"$DL_JSON")
	[[ -n $kdir && -f $kdir/go.mod && -f $kdir/cmd/kwok/main.go && -f $kdir/$KWOK_CRD ]] ||
		die "go mod download sigs.k8s.io/kwok@$KWOK_VERSION gave no usable Dir: $DL_JSON"
	gomod=$kdir/go.mod

	STEP="kwok: raise k8s.io/* in $gomod to $STAGING_VERSION"
	# Every k8s.io/X (one path element) that kwok requires at a release v0.M.Q
	# (not k8s.io/utils or kube-openapi, which have pseudo-versions).
	mapfile -t raise < <(awk '
		$1 == "require" && $2 == "(" { inreq = 1; next }
		inreq && $1 == ")" { inreq = 0; next }
		inreq && $1 ~ /^k8s\.io\/[a-z-]+$/ && $2 ~ /^v0\.[0-9]+\.[0-9]+$/ { print "-require=" $1 "@'"$STAGING_VERSION"'" }
		$1 == "require" && $2 ~ /^k8s\.io\/[a-z-]+$/ && $3 ~ /^v0\.[0-9]+\.[0-9]+$/ { print "-require=" $2 "@'"$STAGING_VERSION"'" }
	' "$gomod" | sort -u)
	((${#raise[@]} > 0)) || die "found no k8s.io/* v0.M.Q requirements in $gomod"
	log "$gomod: ${#raise[@]} k8s.io modules raised to $STAGING_VERSION"

	STEP="kwok: write main.go and go.mod"
	cp "$kdir/cmd/kwok/main.go" main.go
	chmod u+w main.go
	go mod edit "-require=sigs.k8s.io/kwok@$KWOK_VERSION" "${raise[@]}"

	step "kwok: go mod tidy" bg go mod tidy
	go list -m all | grep -E '^(sigs\.k8s\.io/kwok|k8s\.io/(api|client-go)) ' | sed 's/^/  using /' || true

	tmp="$OUT/.kwok.tmp.$$"
	TMPFILES+=("$tmp")
	step "kwok: go build" bg go build -trimpath -ldflags "-s -w" -o "$tmp" .

	STEP="kwok: copy the Stage CRD and the default Stages"
	cfg="$OUT/.kwok-config.tmp.$$"
	TMPFILES+=("$cfg")
	mkdir -p "$cfg/crd" "$cfg/stages"
	install -m 0644 "$kdir/$KWOK_CRD" "$cfg/crd/"
	for f in "${KWOK_STAGES[@]}"; do
		[[ -f $kdir/$f ]] || die "$kdir/$f is missing"
		install -m 0644 "$kdir/$f" "$cfg/stages/"
	done
	printf '%s\n' "$KWOK_STAMP" >"$cfg/.build"
	step "kwok: check --version and install with kwok-config" install_kwok "$tmp" "$cfg"
}

if k8s_ok "$OUT/kube-controller-manager" && k8s_ok "$OUT/kube-scheduler"; then
	log "kube-controller-manager and kube-scheduler $K8S_VERSION already in $OUT"
else
	build_k8s_components
fi
if kwok_ok "$OUT/kwok" "$OUT/kwok-config"; then
	log "kwok $KWOK_VERSION already in $OUT"
else
	build_kwok
fi

STEP="final check"
cluster_ok || die "$OUT does not hold kube-controller-manager, kube-scheduler $K8S_VERSION and kwok $KWOK_VERSION with kwok-config"
log "done in $(since "$T0")s: $OUT/{kube-controller-manager,kube-scheduler} ($K8S_VERSION), $OUT/kwok ($KWOK_VERSION), $OUT/kwok-config"
done_out
