//go:build linux

// Package kube is the Kubernetes engine: one Deployment per profile in the
// reconciler's namespace, replicas 1 or 0, strategy Recreate so that two
// pods never hold one bot token at once. It is the only code here that talks
// to the Kubernetes API.
package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

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
	// MountPath is HERMES_HOME in the gateway's pod. Default /opt/data.
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
	// ServiceAccount of the gateway pods; "" for the namespace's default.
	ServiceAccount string
}

// SettingsOf are the pod template's settings from the reconciler's: the
// Hermes image and its data volume, the gateway command and environment,
// the user. Resources are parsed by the caller.
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

// Deployment is the Deployment of svc with the given settings, replicas
// left nil: the run state is not part of the spec.
func (s Settings) Deployment(namespace string, profile desired.Key) (*appsv1.Deployment, error) {
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
	args := desired.Service{Profile: profile}.GatewayArgs()
	env := []corev1.EnvVar{{Name: "HERMES_HOME", Value: mount}, {Name: "HOME", Value: mount}}
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, corev1.EnvVar{Name: k, Value: s.Env[k]})
	}
	optional := true
	labels := selectorOf(profile)
	labels[LabelManagedBy] = ManagedBy
	podLabels := selectorOf(profile)
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
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					ServiceAccountName: s.ServiceAccount,
					SecurityContext:    &corev1.PodSecurityContext{RunAsUser: &uid, RunAsGroup: &gid, FSGroup: &gid, RunAsNonRoot: &nonRoot},
					Containers: []corev1.Container{{
						Name:            "gateway",
						Image:           s.Image,
						ImagePullPolicy: s.PullPolicy,
						Command:         []string{cmd},
						Args:            args,
						WorkingDir:      mount,
						Env:             env,
						EnvFrom:         []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: SecretName(profile)}, Optional: &optional}}},
						VolumeMounts:    []corev1.VolumeMount{{Name: "data", MountPath: mount}},
						Resources:       s.Resources,
					}},
					Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
						PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: s.Claim}}}},
				},
			},
		},
	}
	return d, nil
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
// defaults the fields we leave out, so a hash of the live object can never
// match ours; a field someone set that we do not set is theirs.
func templateDrifted(live, want *appsv1.Deployment) bool {
	if live.Spec.Strategy.Type != want.Spec.Strategy.Type {
		return true
	}
	lt, wt := &live.Spec.Template, &want.Spec.Template
	for k, v := range wt.Labels {
		if lt.Labels[k] != v {
			return true
		}
	}
	ls, ws := &lt.Spec, &wt.Spec
	if ws.ServiceAccountName != "" && ls.ServiceAccountName != ws.ServiceAccountName {
		return true
	}
	if !equality.Semantic.DeepEqual(ls.SecurityContext, ws.SecurityContext) && !securityContains(ls.SecurityContext, ws.SecurityContext) {
		return true
	}
	if len(ls.Containers) != len(ws.Containers) || len(ls.Volumes) != len(ws.Volumes) {
		return true
	}
	for i := range ws.Volumes {
		lv, wv := &ls.Volumes[i], &ws.Volumes[i]
		if lv.Name != wv.Name || lv.PersistentVolumeClaim == nil || lv.PersistentVolumeClaim.ClaimName != wv.PersistentVolumeClaim.ClaimName {
			return true
		}
	}
	for i := range ws.Containers {
		lc, wc := &ls.Containers[i], &ws.Containers[i]
		if lc.Name != wc.Name || lc.Image != wc.Image || lc.WorkingDir != wc.WorkingDir ||
			(wc.ImagePullPolicy != "" && lc.ImagePullPolicy != wc.ImagePullPolicy) ||
			!equality.Semantic.DeepEqual(lc.Command, wc.Command) || !equality.Semantic.DeepEqual(lc.Args, wc.Args) ||
			!equality.Semantic.DeepEqual(lc.Env, wc.Env) || !equality.Semantic.DeepEqual(lc.EnvFrom, wc.EnvFrom) ||
			!equality.Semantic.DeepEqual(lc.VolumeMounts, wc.VolumeMounts) ||
			!equality.Semantic.DeepEqual(lc.Resources, wc.Resources) {
			return true
		}
	}
	return false
}

// securityContains: the live pod security context holds every field of
// want (the API may add none today, but a cluster's admission may).
func securityContains(live, want *corev1.PodSecurityContext) bool {
	if want == nil {
		return true
	}
	if live == nil {
		return false
	}
	eq := func(a, b *int64) bool { return b == nil || (a != nil && *a == *b) }
	eqb := func(a, b *bool) bool { return b == nil || (a != nil && *a == *b) }
	return eq(live.RunAsUser, want.RunAsUser) && eq(live.RunAsGroup, want.RunAsGroup) && eq(live.FSGroup, want.FSGroup) && eqb(live.RunAsNonRoot, want.RunAsNonRoot)
}
