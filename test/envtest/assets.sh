#!/usr/bin/env bash
# assets.sh [OUT]: build a real kube-apiserver and etcd for controller-runtime's
# envtest from the Go module proxy (there is no prebuilt kube-apiserver that this
# machine can download), cache them in OUT and print OUT as the last line on
# stdout, so that
#
#     KUBEBUILDER_ASSETS=$(test/envtest/assets.sh) go test ./...
#
# works. Everything else goes to stderr.
#
# OUT is $1, else $KUBEBUILDER_ASSETS, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/hermes-reconcile/envtest/k8s-<K8S>-etcd-<ETCD>.
#
# When OUT/kube-apiserver and OUT/etcd are there and report the expected
# versions, it exits at once. Otherwise it builds what is missing (cold, on 2
# cores: ~9-10 min, ~2.5 GiB RAM at the kube-apiserver link, ~4 GiB of Go
# module and build cache; with warm Go caches ~11 s):
#
#   kube-apiserver: a wrapper module whose main.go is upstream
#     cmd/kube-apiserver/apiserver.go, requiring k8s.io/kubernetes with one
#     `replace k8s.io/X v0.0.0 => k8s.io/X v0.N.P` per staging module that
#     k8s.io/kubernetes' own go.mod requires at v0.0.0 (that is why
#     `go install k8s.io/kubernetes/cmd/kube-apiserver@v1.N.P` is refused);
#   etcd: a wrapper module whose main calls etcdmain.Main(os.Args).
#
# Both are built with CGO_ENABLED=0 -trimpath into a temporary name, checked
# with --version and renamed into place, so an interrupted build never leaves a
# binary that the fast path would accept.
#
# GOPROXY, GOMODCACHE, GOCACHE, GOSUMDB, ... are honoured from the environment;
# GOWORK is turned off and GOFLAGS replaced (a project's -mod=vendor or a
# go.work would break the wrapper modules). The versions can be changed with
# ENVTEST_K8S_VERSION (v1.N.P; staging modules are v0.N.P) and
# ENVTEST_ETCD_VERSION; controller-runtime v0.M pairs with Kubernetes 1.(M+12).
set -euo pipefail

K8S_VERSION=${ENVTEST_K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ENVTEST_ETCD_VERSION:-v3.7.3}

# All progress goes to stderr; fd 3 is the real stdout, for the last line only.
exec 3>&1 1>&2

prog=${0##*/}
log() { printf '%s: %s\n' "$prog" "$*"; }
die() {
	printf '%s: error: %s\n' "$prog" "$*"
	exit 1
}

if [[ ! $K8S_VERSION =~ ^v1\.([0-9]+)\.([0-9]+)$ ]]; then
	die "ENVTEST_K8S_VERSION must look like v1.37.2, got '$K8S_VERSION'"
fi
STAGING_VERSION="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
K8S_MINOR=${BASH_REMATCH[1]}
if [[ ! $ETCD_VERSION =~ ^v3\.[0-9]+\.[0-9]+$ ]]; then
	die "ENVTEST_ETCD_VERSION must look like v3.7.3, got '$ETCD_VERSION'"
fi

if (($# > 1)); then
	die "usage: $prog [OUTPUT_DIR]"
fi
if (($# == 1)) && [[ -n $1 ]]; then
	OUT=$1
elif [[ -n ${KUBEBUILDER_ASSETS:-} ]]; then
	OUT=$KUBEBUILDER_ASSETS
else
	OUT="${XDG_CACHE_HOME:-${HOME:?neither XDG_CACHE_HOME nor HOME is set}/.cache}/hermes-reconcile/envtest/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}"
fi

# --- fast path: both binaries present and of the right version -------------
# (no go, no mkdir: just run the two binaries)

# apiserver_ok FILE: FILE --version prints "Kubernetes v1.N.P".
apiserver_ok() {
	local v
	[[ -f $1 && -x $1 ]] || return 1
	v=$("$1" --version 2>/dev/null) || return 1
	[[ $v == "Kubernetes ${K8S_VERSION}" ]]
}
# etcd_ok FILE: FILE --version has the line "etcd Version: 3.N.P".
etcd_ok() {
	local v
	[[ -f $1 && -x $1 ]] || return 1
	v=$("$1" --version 2>/dev/null) || return 1
	[[ $'\n'$v$'\n' == *$'\n'"etcd Version: ${ETCD_VERSION#v}"$'\n'* ]]
}

done_out() {
	printf '%s\n' "$OUT" >&3
	exit 0
}

if [[ $OUT == /* ]] && apiserver_ok "$OUT/kube-apiserver" && etcd_ok "$OUT/etcd"; then
	done_out
fi

# --- slow path --------------------------------------------------------------

mkdir -p "$OUT" || die "cannot create output directory $OUT"
OUT=$(cd "$OUT" && pwd -P) || die "cannot enter output directory $OUT"
if apiserver_ok "$OUT/kube-apiserver" && etcd_ok "$OUT/etcd"; then
	done_out
fi

now() { printf '%s' "${EPOCHREALTIME:-$(date +%s.%N)}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
T0=$(now)

# On any failure, name the step it happened in; always remove temporary binaries.
STEP="setup"
TMPFILES=()
CHILD=
# shellcheck disable=SC2317 # run through trap/step, which shellcheck cannot see
on_exit() {
	local rc=$?
	if [[ -n $CHILD ]]; then
		# Interrupted: stop go and the compilers/linker it started (own process group).
		kill -TERM -- "-$CHILD" 2>/dev/null || true
		wait "$CHILD" 2>/dev/null || true
		for _ in {1..50}; do
			kill -0 -- "-$CHILD" 2>/dev/null || break
			sleep 0.1
		done
	fi
	if ((${#TMPFILES[@]})); then
		rm -f "${TMPFILES[@]}"
	fi
	if ((rc != 0)); then
		printf '%s: FAILED in step "%s" (exit %d) after %ss; nothing half-built was left in %s\n' \
			"$prog" "$STEP" "$rc" "$(since "$T0")" "$OUT"
	fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One build at a time per OUT (e.g. parallel make targets); re-check after waiting.
if command -v flock >/dev/null; then
	STEP="lock $OUT/.lock"
	exec 9>"$OUT/.lock"
	if ! flock -n 9; then
		log "another build is running for $OUT; waiting for it"
		flock 9
	fi
	if apiserver_ok "$OUT/kube-apiserver" && etcd_ok "$OUT/etcd"; then
		done_out
	fi
fi

STEP="check go"
command -v go >/dev/null || die "go is not on PATH (Go >= 1.26 is needed)"
# Settings that would break the wrapper modules or the binaries. GOFLAGS is set
# (not emptied: an empty value falls back to `go env -w GOFLAGS=...`).
export GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0
unset GOOS GOARCH
GOVERSION=$(go env GOVERSION) || die "go env failed"
if [[ $GOVERSION =~ ^go1\.([0-9]+) ]] && ((BASH_REMATCH[1] < 26)) && [[ $(go env GOTOOLCHAIN) == local ]]; then
	die "$GOVERSION is too old: k8s.io/kubernetes $K8S_VERSION and etcd $ETCD_VERSION need Go >= 1.26 (GOTOOLCHAIN=local)"
fi
log "building envtest assets into $OUT with $GOVERSION (GOPROXY=$(go env GOPROXY), GOMODCACHE=$(go env GOMODCACHE), GOCACHE=$(go env GOCACHE))"

BUILD="$OUT/.build"
rm -f "$OUT"/.kube-apiserver.tmp.* "$OUT"/.etcd.tmp.*

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

# bg CMD...: run CMD in its own process group and wait for it, so that a
# signal to this script is handled at once and on_exit can stop all of CMD.
# shellcheck disable=SC2317 # run through trap/step, which shellcheck cannot see
bg() {
	local rc=0
	set -m
	"$@" </dev/null &
	CHILD=$!
	set +m
	wait "$CHILD" || rc=$?
	CHILD=
	return "$rc"
}

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

# install_binary TMP NAME CHECK: check TMP --version, then rename into place.
# shellcheck disable=SC2317 # run through trap/step, which shellcheck cannot see
install_binary() {
	local tmp=$1 name=$2 check=$3
	if ! "$check" "$tmp"; then
		"$tmp" --version || true
		log "$name --version does not report the expected version"
		return 1
	fi
	mv -f "$tmp" "$OUT/$name"
}

build_apiserver() {
	local dir="$BUILD/kube-apiserver" kdir gomod info commit bdate tmp m pkg
	local -a staging replaces ldflags
	step "kube-apiserver: init wrapper module" new_module "$dir" hermes-reconcile.local/envtest/kube-apiserver
	cd "$dir"
	step "kube-apiserver: go mod download k8s.io/kubernetes@$K8S_VERSION" download "k8s.io/kubernetes@$K8S_VERSION"
	kdir=$(json_field Dir <<<"$DL_JSON")
	info=$(json_field Info <<<"$DL_JSON")
	[[ -n $kdir && -f $kdir/go.mod && -f $kdir/cmd/kube-apiserver/apiserver.go ]] ||
		die "go mod download k8s.io/kubernetes@$K8S_VERSION gave no usable Dir: $DL_JSON"
	gomod=$kdir/go.mod

	STEP="kube-apiserver: generate replace block from $gomod"
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

	STEP="kube-apiserver: write main.go and go.mod"
	cp "$kdir/cmd/kube-apiserver/apiserver.go" main.go
	chmod u+w main.go
	go mod edit "-require=k8s.io/kubernetes@$K8S_VERSION" "${replaces[@]}"

	step "kube-apiserver: go mod tidy" bg go mod tidy

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
	tmp="$OUT/.kube-apiserver.tmp.$$"
	TMPFILES+=("$tmp")
	step "kube-apiserver: go build (the slow one: ~6-8 min cold, ~2.3 GiB at link)" \
		bg go build -trimpath -ldflags "${ldflags[*]}" -o "$tmp" .
	step "kube-apiserver: check --version and install" install_binary "$tmp" kube-apiserver apiserver_ok
}

build_etcd() {
	local dir="$BUILD/etcd" info commit tmp
	local -a ldflags
	step "etcd: init wrapper module" new_module "$dir" hermes-reconcile.local/envtest/etcd
	cd "$dir"
	step "etcd: go mod download go.etcd.io/etcd/server/v3@$ETCD_VERSION" download "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
	info=$(json_field Info <<<"$DL_JSON")

	STEP="etcd: write main.go and go.mod"
	cat >main.go <<'EOF'
// Command etcd is upstream etcd's main: etcdmain.Main(os.Args).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
EOF
	go mod edit "-require=go.etcd.io/etcd/server/v3@$ETCD_VERSION"

	step "etcd: go mod tidy" bg go mod tidy

	commit=$(grep -o '"Hash": *"[0-9a-f]\{40\}"' "$info" 2>/dev/null | grep -o '[0-9a-f]\{40\}' | head -n 1 || true)
	ldflags=(-s -w)
	if [[ -n $commit ]]; then
		ldflags+=(-X "go.etcd.io/etcd/api/v3/version.GitSHA=${commit:0:9}")
	fi
	tmp="$OUT/.etcd.tmp.$$"
	TMPFILES+=("$tmp")
	step "etcd: go build" bg go build -trimpath -ldflags "${ldflags[*]}" -o "$tmp" .
	step "etcd: check --version and install" install_binary "$tmp" etcd etcd_ok
}

if apiserver_ok "$OUT/kube-apiserver"; then
	log "kube-apiserver $K8S_VERSION already in $OUT"
else
	build_apiserver
fi
if etcd_ok "$OUT/etcd"; then
	log "etcd $ETCD_VERSION already in $OUT"
else
	build_etcd
fi

STEP="final check"
apiserver_ok "$OUT/kube-apiserver" || die "$OUT/kube-apiserver does not report $K8S_VERSION"
etcd_ok "$OUT/etcd" || die "$OUT/etcd does not report $ETCD_VERSION"
log "done in $(since "$T0")s: $OUT/kube-apiserver ($K8S_VERSION), $OUT/etcd ($ETCD_VERSION)"
done_out
