package metrics_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"gopkg.in/yaml.v3"

	"github.com/hermes-reconcile/hermes-reconcile/metrics"
	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// What deploy/ and the README say of the metrics is checked against their
// definitions: UPDATE_DOCS=1 go test ./metrics/ rewrites what is generated
// (the README's tables, the PrometheusRule).

const (
	readme         = "../README.md"
	rulesFile      = "../deploy/prometheus/hermes-reconcile.rules.yaml"
	prometheusRule = "../deploy/kubernetes/monitoring/prometheusrule.yaml"
	dashboard      = "../deploy/grafana/hermes-reconcile.json"
)

// generated compares the text of path (between begin and end, or whole
// when both are "") with want, and rewrites it under UPDATE_DOCS.
func generated(path, begin, end, want string) {
	GinkgoHelper()
	stale, err := testkit.Generated(path, begin, end, want)
	Expect(err).NotTo(HaveOccurred())
	if stale {
		Fail(fmt.Sprintf("%s is not what the definitions generate (UPDATE_DOCS=1 go test ./metrics/ rewrites it)", path))
	}
}

// metricsTable is the README's table of every metric.
func metricsTable() string {
	var b strings.Builder
	b.WriteString("\n| Metric | Type | Labels | Meaning |\n|---|---|---|---|\n")
	for _, d := range metrics.Defs {
		var labels []string
		for i, l := range d.Labels {
			switch {
			case i < len(d.Values) && d.Values[i] != nil:
				labels = append(labels, fmt.Sprintf("`%s`: %s", l, strings.Join(d.Values[i], ", ")))
			default:
				labels = append(labels, fmt.Sprintf("`%s`", l))
			}
		}
		help := d.Help
		if d.Type == metrics.Histogram {
			var bs []string
			for _, x := range d.Buckets {
				bs = append(bs, fmt.Sprint(x))
			}
			help += " Buckets: " + strings.Join(bs, ", ") + " s."
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", d.Name, d.Type, strings.Join(labels, "; "), strings.ReplaceAll(help, "|", `\|`))
	}
	return b.String()
}

// rules is a Prometheus rules file.
type rules struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Alert       string
			Record      string
			Expr        string
			For         string
			Labels      map[string]string
			Annotations map[string]string
		}
	}
}

func readRules() rules {
	GinkgoHelper()
	data, err := os.ReadFile(rulesFile)
	Expect(err).NotTo(HaveOccurred())
	var r rules
	Expect(yaml.Unmarshal(data, &r)).To(Succeed())
	return r
}

// labelRef is a label in an annotation's template.
var labelRef = regexp.MustCompile(`\{\{ \$labels\.(\w+) \}\}`)

// alertsTable is the README's table of the alerts of the rules file.
func alertsTable() string {
	var b strings.Builder
	b.WriteString("\n| Alert | Severity | For | When |\n|---|---|---|---|\n")
	for _, g := range readRules().Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			expr := strings.Join(strings.Fields(r.Expr), " ")
			summary := labelRef.ReplaceAllStringFunc(r.Annotations["summary"], func(ref string) string {
				return strings.ToUpper(labelRef.FindStringSubmatch(ref)[1])
			})
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s: `%s` |\n", r.Alert, r.Labels["severity"], r.For,
				strings.ReplaceAll(summary, "|", `\|`), strings.ReplaceAll(expr, "|", `\|`))
		}
	}
	return b.String()
}

// prometheusRuleText is the PrometheusRule of the rules file: its groups,
// as they are written there.
func prometheusRuleText() string {
	GinkgoHelper()
	data, err := os.ReadFile(rulesFile)
	Expect(err).NotTo(HaveOccurred())
	text := string(data)
	i := strings.Index(text, "\ngroups:\n")
	Expect(i).To(BeNumerically(">=", 0), "%s has no groups", rulesFile)
	var b strings.Builder
	b.WriteString(`# Generated from deploy/prometheus/hermes-reconcile.rules.yaml by
# UPDATE_DOCS=1 go test ./metrics/: edit that file, not this one.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: hermes-reconcile
  labels:
    app.kubernetes.io/name: hermes-reconcile
    prometheus: k8s
    role: alert-rules
spec:
`)
	for _, l := range strings.SplitAfter(text[i+1:], "\n") {
		if strings.TrimSpace(l) != "" {
			b.WriteString("  ")
		}
		b.WriteString(l)
	}
	return b.String()
}

// metricNames are the names of our metrics an expression reads.
var metricName = regexp.MustCompile(`\b(hermes_reconcile_[a-z_]+|process_start_time_seconds)\b`)

func known() map[string]bool {
	k := map[string]bool{"process_start_time_seconds": true}
	for _, d := range metrics.Defs {
		k[d.Name] = true
		if d.Type == metrics.Histogram {
			k[d.Name+"_bucket"], k[d.Name+"_sum"], k[d.Name+"_count"] = true, true, true
		}
	}
	return k
}

// exprs are every "expr" of a dashboard's JSON.
func exprs(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if s, ok := x[k].(string); ok && k == "expr" {
				out = append(out, s)
				continue
			}
			out = append(out, exprs(x[k])...)
		}
	case []any:
		for _, e := range x {
			out = append(out, exprs(e)...)
		}
	}
	return out
}

// promtool runs promtool with args and returns its output.
func promtool(args ...string) (string, error) {
	GinkgoHelper()
	if _, err := exec.LookPath("promtool"); err != nil {
		Fail("promtool must be installed (Debian package prometheus; `make deps` installs it): " + err.Error())
	}
	out, err := exec.Command("promtool", args...).CombinedOutput()
	return string(out), err
}

var _ = Describe("the metrics' documentation and deploy/", func() {
	It("lists every metric in the README, with its type, labels and meaning", func() {
		generated(readme, "<!-- metrics:begin -->", "<!-- metrics:end -->", metricsTable())
	})

	It("lists every alert of the rules file in the README", func() {
		generated(readme, "<!-- alerts:begin -->", "<!-- alerts:end -->", alertsTable())
	})

	It("has the PrometheusRule carry the rules file's groups", func() {
		generated(prometheusRule, "", "", prometheusRuleText())
		data, err := os.ReadFile(prometheusRule)
		Expect(err).NotTo(HaveOccurred())
		var pr struct{ Spec rules }
		Expect(yaml.Unmarshal(data, &pr)).To(Succeed())
		Expect(pr.Spec).To(Equal(readRules()))
	})

	It("alerts on the metrics there are, and on every alert the issue asks for", func() {
		k := known()
		var alerts []string
		for _, g := range readRules().Groups {
			for _, r := range g.Rules {
				alerts = append(alerts, r.Alert)
				for _, n := range metricName.FindAllString(r.Expr, -1) {
					Expect(k).To(HaveKey(n), "%s reads %s, which is no metric", r.Alert, n)
				}
				Expect(r.Labels).To(HaveKey("severity"), r.Alert)
				Expect(r.Annotations).To(HaveKey("summary"), r.Alert)
				Expect(r.Annotations).To(HaveKey("description"), r.Alert)
			}
		}
		Expect(alerts).To(ContainElements("HermesReconcilePassesFailing", "HermesReconcileNoSuccessfulPass", "HermesReconcileLeaderAbsent",
			"HermesReconcileGatewayDown", "HermesReconcileRemovalsHeld", "HermesReconcileRolloutHalted", "HermesReconcileConflictHeld"))
	})

	It("builds the dashboard on the metrics there are, in queries Prometheus parses", func() {
		data, err := os.ReadFile(dashboard)
		Expect(err).NotTo(HaveOccurred())
		var d map[string]any
		Expect(json.Unmarshal(data, &d)).To(Succeed())
		qs := exprs(d)
		Expect(qs).NotTo(BeEmpty())
		k := known()
		used := map[string]bool{}
		var rec strings.Builder
		rec.WriteString("groups:\n  - name: dashboard\n    rules:\n")
		vars := strings.NewReplacer("$__rate_interval", "5m", "$job", ".+", "$instance", ".+")
		for i, q := range qs {
			for _, n := range metricName.FindAllString(q, -1) {
				Expect(k).To(HaveKey(n), "the dashboard reads %s, which is no metric: %s", n, q)
				used[strings.TrimSuffix(n, "_bucket")] = true
			}
			b, err := json.Marshal(vars.Replace(q))
			Expect(err).NotTo(HaveOccurred())
			fmt.Fprintf(&rec, "      - record: dashboard:query%d\n        expr: %s\n", i, b)
		}
		for _, def := range metrics.Defs {
			if def.Name != "hermes_reconcile_build_info" {
				Expect(used).To(HaveKey(def.Name), "the dashboard shows nothing of %s", def.Name)
			}
		}
		path := filepath.Join(GinkgoT().TempDir(), "dashboard.rules.yaml")
		Expect(os.WriteFile(path, []byte(rec.String()), 0o644)).To(Succeed())
		out, err := promtool("check", "rules", path)
		Expect(err).NotTo(HaveOccurred(), "promtool check rules on the dashboard's queries:\n%s", out)
	})
})
