//go:build linux

// Package kube is the Kubernetes engine: one Deployment per profile in the
// reconciler's namespace, replicas 1 or 0, strategy Recreate so that two
// pods never hold one bot token at once. It is the only code here that talks
// to the Kubernetes API.
package kube

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// The labels and annotations that make a Deployment ours.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelName      = "app.kubernetes.io/name"
	ManagedBy      = "hermes-reconcile"
	AppName        = "hermes-gateway"
	// AnnotationHash is the spec hash of the template we wrote (drift is a
	// hash compare, as compose's config-hash label).
	AnnotationHash = "hermes-reconcile/spec-hash"
	// AnnotationAccepted records an adoption: the template running then,
	// someone else's, is accepted in place of our rendering of that hash
	// until the next start (a scale from 0), so adopting restarts nothing.
	AnnotationAccepted = "hermes-reconcile/accepted-for"
	// AnnotationProfile is the profile's name as Hermes spells it.
	AnnotationProfile = "hermes-reconcile/profile"
	// AnnotationRolled is when we last replaced the template of a running
	// Deployment (a rollout's restart): the rollout budget judges its batch
	// from it, whichever controller replica decides.
	AnnotationRolled = "hermes-reconcile/rolled-at"
	// AnnotationAbsent is when a pass first found the profile gone: its
	// removal waits --remove-after from then.
	AnnotationAbsent = "hermes-reconcile/absent-since"
	// AnnotationPaused, "true" on a Deployment, leaves it alone entirely:
	// no scale, no template write, no removal. Break-glass, or a team that
	// scales its gateway by other means; taking it off hands it back.
	AnnotationPaused = "hermes-reconcile.io/paused"
	// AnnotationEnvHash, on the pod template, is the content hash of the
	// profile's env Secret: a rotation changes the template, which rolls
	// the pod (its environment is read once, at its start).
	AnnotationEnvHash = "hermes-reconcile/env-hash"
	// SecretLabel, "true" on a profile's env Secret, makes the controller
	// see it: only Secrets so labelled are read and watched, and only their
	// content is hashed into the template. An unlabelled one is still the
	// pod's environment, but a rotation does not roll it.
	SecretLabel = "hermes-reconcile.io/gateway-env"
	// NamePrefix starts every Deployment's name.
	NamePrefix = "hermes-gateway-"
	// SpecFile names the one "file" of a rendering: the Deployment without
	// its replicas.
	SpecFile = "deployment.json"
)

// Settings shape the pod template.
type Settings struct {
	// Image is the Hermes image.
	Image string
	// PullPolicy is the image pull policy; "" leaves the API's default.
	PullPolicy corev1.PullPolicy
	// Claim is the PersistentVolumeClaim of the Hermes data volume
	// (ReadWriteMany in a real cluster), mounted at MountPath.
	Claim string
	// MountPath is the profile root in the gateway's pod. Default /opt/data.
	MountPath string
	// GatewayCommand is the program run as `CMD [-p NAME] gateway run
	// --replace`. Default hermes.
	GatewayCommand string
	// Env is exported to every gateway.
	Env map[string]string
	// UID and GID the gateway runs as (Hermes's image: 10000).
	UID, GID int64
	// Resources of the gateway container.
	Resources corev1.ResourceRequirements
	// ServiceAccount of the gateway pods: one without a token (none is
	// mounted either way). Default GatewayServiceAccount.
	ServiceAccount string
	// TemplatePatch is a strategic-merge patch (JSON) applied to every
	// gateway's pod template after ours is rendered: pull secrets,
	// scheduling, probes, annotations, resources. Part of the spec hash.
	TemplatePatch []byte
}

// GatewayServiceAccount is the gateway pods' service account by default:
// deploy/kubernetes makes it, without a token.
const GatewayServiceAccount = "hermes-gateway"

// TmpDir is the gateway's writable /tmp (an emptyDir): its root
// filesystem is read-only.
const TmpDir = "/tmp"

// SettingsOf are the pod template's settings from the reconciler's: the
// Hermes image and its data volume, the gateway command and environment,
// the user. Resources and the template patch are read by the caller.
func SettingsOf(c config.Config) Settings {
	return Settings{Image: c.Kube.Image, Claim: c.Kube.Claim, MountPath: c.Kube.Mount,
		GatewayCommand: c.Render.GatewayCommand, Env: c.Render.Env, UID: c.Kube.UID, GID: c.Kube.GID}
}

// DeploymentName is the Deployment of a profile. Profile names may hold
// "_", which object names may not; "." may, and no profile name holds one,
// so the mapping is one to one.
func DeploymentName(profile desired.Key) string {
	return NamePrefix + strings.ReplaceAll(profile, "_", ".")
}

// ProfileOf is the profile a Deployment name belongs to, false if none.
func ProfileOf(name string) (desired.Key, bool) {
	rest, ok := strings.CutPrefix(name, NamePrefix)
	if !ok || rest == "" {
		return "", false
	}
	k := strings.ReplaceAll(rest, ".", "_")
	if k != desired.DefaultProfile && desired.ValidName(k) != nil {
		return "", false
	}
	return k, true
}

// SecretName is the optional Secret a profile's gateway takes its
// environment from (its .env, as the operator syncs it).
func SecretName(profile desired.Key) string { return DeploymentName(profile) + "-env" }

func selectorOf(profile desired.Key) map[string]string {
	return map[string]string{LabelName: AppName, LabelInstance: profile}
}

// ProfileHome is where a profile's directory is in its gateway's pod
// (its HERMES_HOME): the mount itself for default, which is the profile
// root, else <mount>/profiles/<name>, as Hermes lays them out.
func ProfileHome(mount string, profile desired.Key) string {
	if profile == desired.DefaultProfile {
		return mount
	}
	return path.Join(mount, "profiles", profile)
}

// Deployment is the Deployment of a profile with the given settings,
// replicas left nil (the run state is not part of the spec), without an
// env Secret to hash.
func (s Settings) Deployment(namespace string, profile desired.Key) (*appsv1.Deployment, error) {
	return s.deployment(namespace, profile, "")
}

// deployment renders a profile's Deployment; envHash is the content hash
// of its env Secret, "" when there is none: a rotation rolls the pod.
//
// The pod passes the restricted Pod Security Standard: it runs as the
// Hermes user (never root), with no privilege escalation, every capability
// dropped, the runtime's seccomp profile, a read-only root filesystem (Hermes
// writes under HERMES_HOME and HOME, both on the volume, and /tmp, an
// emptyDir) and no service-account token. A named profile's pod mounts only
// its own directory (subPath profiles/<name>): not the root's .env nor any
// other profile's. default is the root itself, so its pod mounts the whole
// volume, profiles and all.
func (s Settings) deployment(namespace string, profile desired.Key, envHash string) (*appsv1.Deployment, error) {
	if s.Image == "" {
		return nil, fmt.Errorf("no image: set --kube-image")
	}
	if s.Claim == "" {
		return nil, fmt.Errorf("no data volume claim: set --kube-claim")
	}
	name := DeploymentName(profile)
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return nil, fmt.Errorf("deployment name %q: %s", name, strings.Join(errs, "; "))
	}
	if errs := validation.IsValidLabelValue(profile); len(errs) > 0 {
		return nil, fmt.Errorf("profile %q as a label value: %s", profile, strings.Join(errs, "; "))
	}
	mount := s.MountPath
	if mount == "" {
		mount = "/opt/data"
	}
	cmd := s.GatewayCommand
	if cmd == "" {
		cmd = "hermes"
	}
	sa := s.ServiceAccount
	if sa == "" {
		sa = GatewayServiceAccount
	}
	home := ProfileHome(mount, profile)
	dataMount := corev1.VolumeMount{Name: "data", MountPath: mount}
	if profile != desired.DefaultProfile {
		// Hermes trusts a HERMES_HOME whose parent is named profiles: `-p`
		// then reads nothing of the root.
		dataMount = corev1.VolumeMount{Name: "data", MountPath: home, SubPath: path.Join("profiles", profile)}
	}
	args := desired.Service{Profile: profile}.GatewayArgs()
	env := []corev1.EnvVar{{Name: "HERMES_HOME", Value: home}, {Name: "HOME", Value: home}}
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, corev1.EnvVar{Name: k, Value: s.Env[k]})
	}
	labels := selectorOf(profile)
	labels[LabelManagedBy] = ManagedBy
	uid, gid := s.UID, s.GID
	nonRoot := uid != 0
	d := &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels,
			Annotations: map[string]string{AnnotationProfile: profile}},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: selectorOf(profile)},
			// Recreate: the old pod is gone before the new one starts, so two
			// gateways never hold one bot token.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: selectorOf(profile)},
				Spec: corev1.PodSpec{
					ServiceAccountName:           sa,
					AutomountServiceAccountToken: ptr(false),
					SecurityContext: &corev1.PodSecurityContext{RunAsUser: &uid, RunAsGroup: &gid, RunAsNonRoot: &nonRoot,
						// The volume is the gateway's to write; OnRootMismatch: no
						// walk of a shared volume at every start.
						FSGroup: &gid, FSGroupChangePolicy: ptr(corev1.FSGroupChangeOnRootMismatch),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					Containers: []corev1.Container{{
						Name:            "gateway",
						Image:           s.Image,
						ImagePullPolicy: s.PullPolicy,
						Command:         []string{cmd},
						Args:            args,
						WorkingDir:      home,
						Env:             env,
						EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: SecretName(profile)}, Optional: ptr(true)}}},
						VolumeMounts: []corev1.VolumeMount{dataMount, {Name: "tmp", MountPath: TmpDir}},
						Resources:    s.Resources,
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr(false),
							ReadOnlyRootFilesystem:   ptr(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: s.Claim}}},
						{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
				},
			},
		},
	}
	if len(s.TemplatePatch) > 0 {
		t, err := patchTemplate(d.Spec.Template, s.TemplatePatch)
		if err != nil {
			return nil, err
		}
		// The selector's labels stay: the Deployment must select its pods.
		if t.Labels == nil {
			t.Labels = map[string]string{}
		}
		for k, v := range selectorOf(profile) {
			t.Labels[k] = v
		}
		d.Spec.Template = t
	}
	if envHash != "" {
		if d.Spec.Template.Annotations == nil {
			d.Spec.Template.Annotations = map[string]string{}
		}
		d.Spec.Template.Annotations[AnnotationEnvHash] = envHash
	}
	return d, nil
}

// patchTemplate applies a strategic-merge patch to a pod template.
func patchTemplate(t corev1.PodTemplateSpec, patch []byte) (corev1.PodTemplateSpec, error) {
	orig, err := json.Marshal(t)
	if err != nil {
		return t, err
	}
	b, err := strategicpatch.StrategicMergePatch(orig, patch, corev1.PodTemplateSpec{})
	if err != nil {
		return t, fmt.Errorf("the pod-template patch: %w", err)
	}
	var out corev1.PodTemplateSpec
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return t, fmt.Errorf("the pod-template patch makes no pod template: %w", err)
	}
	for _, c := range out.Spec.Containers {
		if c.Name == "gateway" {
			return out, nil
		}
	}
	return t, fmt.Errorf("the pod-template patch leaves no container named gateway")
}

// ParseTemplatePatch reads a pod-template patch (YAML or JSON, a fragment
// of a PodTemplateSpec: metadata and spec) into JSON, refusing one that
// names fields a pod template does not have or does not apply. An empty
// one ({}, or comments only) is no patch: nil.
func ParseTemplatePatch(data []byte) ([]byte, error) {
	b, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, err
	}
	var probe any
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, err
	}
	if probe == nil {
		return nil, nil // empty, or comments only: no patch
	}
	m, ok := probe.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a mapping: want a fragment of a pod template (metadata:, spec:)")
	}
	if len(m) == 0 {
		return nil, nil
	}
	for k := range m {
		if k != "metadata" && k != "spec" {
			return nil, fmt.Errorf("%q is not a field of a pod template: want metadata: and spec:", k)
		}
	}
	// Applied to a rendering, it must give a pod template with nothing
	// unknown in it (a misspelt field is refused, not dropped).
	s := Settings{Image: "check", Claim: "check", UID: 10000, GID: 10000, TemplatePatch: b}
	if _, err := s.Deployment("check", "check"); err != nil {
		return nil, err
	}
	return b, nil
}

// specHash is the hash of what a Deployment runs: its strategy and pod
// template, not its replicas or the API's bookkeeping.
func specHash(d *appsv1.Deployment) string {
	b, err := json.Marshal(struct {
		Strategy appsv1.DeploymentStrategy `json:"strategy"`
		Template corev1.PodTemplateSpec    `json:"template"`
	}{d.Spec.Strategy, d.Spec.Template})
	if err != nil {
		panic(err) // API types always marshal
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:12])
}

// specOf is the reconcile spec of a rendered Deployment.
func specOf(d *appsv1.Deployment) reconcile.Spec {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		panic(err)
	}
	return reconcile.Spec{Unit: d.Name, Hash: specHash(d),
		Files: []reconcile.File{{Path: SpecFile, Mode: 0o644, Data: append(b, '\n'), Effect: reconcile.RestartsService}}}
}

// templateDrifted reports whether the live Deployment runs something else
// than want: every field we set must read back the same. The API server
// defaults the fields we leave out, and other field managers may add their
// own (an annotation, a sidecar's env): a field someone set that we do not
// set is theirs, left alone by our server-side apply, and no drift.
//
// strict, for a Deployment someone else made (adopting it): lists of named
// objects must hold no more names than ours either, so that an env var or
// mount of theirs counts, and adopting it takes the template over whole.
func templateDrifted(live, want *appsv1.Deployment, strict bool) bool {
	l, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&live.Spec)
	if err != nil {
		return true
	}
	w, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&want.Spec)
	if err != nil {
		return true
	}
	return !contains(l["strategy"], w["strategy"], strict) || !contains(l["template"], w["template"], strict)
}

// contains reports whether live holds every value of want: maps key by
// key, lists of named objects (containers, env, volumes, mounts) name by
// name, other lists element by element and of the same length, scalars
// equal. A null or empty value in want asks for nothing.
func contains(live, want any, strict bool) bool {
	switch w := want.(type) {
	case nil:
		return true
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return len(w) == 0 && live == nil
		}
		for k, v := range w {
			if !contains(l[k], v, strict) {
				return false
			}
		}
		return true
	case []any:
		l, ok := live.([]any)
		if !ok {
			return len(w) == 0 && live == nil
		}
		if byName(w) {
			named := map[string]any{}
			for _, e := range l {
				if m, ok := e.(map[string]any); ok {
					if n, ok := m["name"].(string); ok {
						named[n] = m
					}
				}
			}
			for _, e := range w {
				if !contains(named[e.(map[string]any)["name"].(string)], e, strict) {
					return false
				}
			}
			return !strict || len(named) == len(w)
		}
		if len(l) != len(w) {
			return false
		}
		for i := range w {
			if !contains(l[i], w[i], strict) {
				return false
			}
		}
		return true
	case string:
		if l, ok := live.(string); ok && l != w {
			// A quantity the API server wrote in its canonical form.
			if lq, err := resource.ParseQuantity(l); err == nil {
				if wq, err := resource.ParseQuantity(w); err == nil {
					return lq.Cmp(wq) == 0
				}
			}
		}
		return live == w
	default:
		return equality.Semantic.DeepEqual(live, want)
	}
}

// byName: every element is an object with a name (a list the API merges
// by name).
func byName(list []any) bool {
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return false
		}
		if _, ok := m["name"].(string); !ok {
			return false
		}
	}
	return len(list) > 0
}
