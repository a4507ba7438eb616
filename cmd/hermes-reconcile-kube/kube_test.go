//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermes-reconcile/hermes-reconcile/cmd/internal/cli"
)

func TestKubeResources(t *testing.T) {
	got, err := resources("--kube-limits", "cpu=500m, memory=1Gi")
	if err != nil || got.Cpu().String() != "500m" || got.Memory().String() != "1Gi" {
		t.Errorf("got %v, %v", got, err)
	}
	if got, err := resources("--kube-limits", ""); err != nil || got != nil {
		t.Errorf("empty: %v, %v", got, err)
	}
	for _, bad := range []string{"cpu", "memory=lots", "=1"} {
		if _, err := resources("--kube-requests", bad); err == nil || !strings.Contains(err.Error(), "--kube-requests: want NAME=QUANTITY") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// --kube-template-patch is read and checked before anything else: a
// misspelt field is an error naming the flag and the file, not a patch
// half applied.
func TestKubeTemplatePatch(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	o := &cli.Options{}
	o.Cfg.Kube.TemplatePatch = write("good.yaml", "spec:\n  imagePullSecrets:\n  - name: registry\n")
	s, err := kubeSettings(o)
	if err != nil || !strings.Contains(string(s.TemplatePatch), `"registry"`) {
		t.Errorf("good patch: %s, %v", s.TemplatePatch, err)
	}
	for name, data := range map[string]string{
		"typo.yaml": "spec:\n  containers:\n  - name: gateway\n    imagePulPolicy: Always\n",
		"pod.yaml":  "kind: Pod\n",
	} {
		o.Cfg.Kube.TemplatePatch = write(name, data)
		if _, err := kubeSettings(o); err == nil || !strings.Contains(err.Error(), "--kube-template-patch "+o.Cfg.Kube.TemplatePatch) {
			t.Errorf("%s: %v", name, err)
		}
	}
	o.Cfg.Kube.TemplatePatch = filepath.Join(dir, "missing.yaml")
	if _, err := kubeSettings(o); err == nil {
		t.Error("a missing patch file is no error")
	}
}
