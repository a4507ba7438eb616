#!/usr/bin/env bash
# check.sh ARCHIVE TAG: the controller's image archive is what deploy/image
# promises: an OCI archive whose image TAG runs the static binary as uid
# 65532, in one layer, with no shell, and whose binary reports TAG when run
# from the unpacked root. Needs skopeo and umoci (make deps).
set -euo pipefail
archive=$1 tag=$2
fail() {
	printf 'image check: %s\n' "$*" >&2
	exit 1
}
ref="oci-archive:$archive:$tag"
user=$(skopeo inspect --config --format '{{.Config.User}}' "$ref")
[[ $user == 65532:65532 ]] || fail "user is '$user', not 65532:65532"
entrypoint=$(skopeo inspect --config --format '{{range .Config.Entrypoint}}[{{.}}]{{end}}' "$ref")
[[ $entrypoint == '[/hermes-reconcile-kube]' ]] || fail "entrypoint is $entrypoint"
platform=$(skopeo inspect --config --format '{{.OS}}/{{.Architecture}}' "$ref")
[[ $platform == linux/* ]] || fail "platform is $platform"
layers=$(skopeo inspect --format '{{len .Layers}}' "$ref")
[[ $layers == 1 ]] || fail "$layers layers, not one"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/layout"
tar -xf "$archive" -C "$work/layout"
umoci unpack --rootless --image "$work/layout:$tag" "$work/bundle" >/dev/null
root=$work/bundle/rootfs
files=$(cd "$root" && find . -mindepth 1 | sort | tr '\n' ' ')
[[ $files == './etc ./etc/group ./etc/passwd ./hermes-reconcile-kube ' ]] || fail "the root holds $files"
[[ ! -e $root/bin/sh ]] || fail "the image has a shell"
grep -qx "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin" "$root/etc/passwd" || fail "/etc/passwd names no nonroot 65532"
cgo=$(go version -m "$root/hermes-reconcile-kube" | awk '$2 == "CGO_ENABLED=0" { print "static" }')
[[ $cgo == static ]] || fail "the binary was not built with CGO_ENABLED=0"
version=$(env -i "$root/hermes-reconcile-kube" --version)
[[ $version == "hermes-reconcile-kube $tag "* ]] || fail "--version says '$version', not $tag"
size=$(stat -c %s "$archive")
printf 'image %s: user 65532:65532, entrypoint /hermes-reconcile-kube, 1 layer, no shell, %s; archive %d bytes\n' "$tag" "$version" "$size"
