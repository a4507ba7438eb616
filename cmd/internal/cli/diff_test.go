package cli

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// applyUnified applies a unified diff made by unifiedDiff to a.
func applyUnified(t *testing.T, a, diff string) string {
	t.Helper()
	src := strings.Split(strings.TrimSuffix(a, "\n"), "\n")
	if a == "" {
		src = nil
	}
	var out []string
	noEOL := map[int]bool{}
	pos := 0
	lines := strings.Split(strings.TrimSuffix(diff, "\n"), "\n")[2:]
	for k := 0; k < len(lines); k++ {
		l := lines[k]
		if !strings.HasPrefix(l, "@@ -") {
			t.Fatalf("want a hunk header, got %q in\n%s", l, diff)
		}
		r := strings.Fields(l)[1][1:]
		startS, _, _ := strings.Cut(r, ",")
		start, _ := strconv.Atoi(startS)
		if strings.HasSuffix(r, ",0") {
			start++ // an empty range names the line before
		}
		for pos < start-1 {
			out = append(out, src[pos])
			pos++
		}
		for k+1 < len(lines) && !strings.HasPrefix(lines[k+1], "@@ -") {
			k++
			e := lines[k]
			switch e[0] {
			case ' ':
				if src[pos] != e[1:] {
					t.Fatalf("context %q does not match %q", e[1:], src[pos])
				}
				out = append(out, src[pos])
				pos++
			case '-':
				if src[pos] != e[1:] {
					t.Fatalf("removed %q does not match %q", e[1:], src[pos])
				}
				pos++
			case '+':
				out = append(out, e[1:])
			case '\\':
				// "\ No newline at end of file": the line before has none.
				noEOL[len(out)-1] = true
			}
		}
	}
	out = append(out, src[pos:]...)
	if len(out) == 0 {
		return ""
	}
	if noEOL[len(out)-1] {
		return strings.Join(out, "\n")
	}
	return strings.Join(out, "\n") + "\n"
}

func TestUnifiedDiffShowsTheFinalNewline(t *testing.T) {
	got := unifiedDiff("f", "a\nb\n", "a\nb")
	want := "--- f (now)\n+++ f (planned)\n@@ -1,2 +1,2 @@\n a\n-b\n+b\n\\ No newline at end of file\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	if back := applyUnified(t, "a\nb\n", got); back != "a\nb" {
		t.Errorf("applied back: %q", back)
	}
}

func TestUnifiedDiffAppliesBack(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	file := func() string {
		var b strings.Builder
		for range rng.IntN(30) {
			b.WriteString(strconv.Itoa(rng.IntN(6)) + "\n")
		}
		return b.String()
	}
	for i := range 2000 {
		a, b := file(), file()
		d := unifiedDiff("f", a, b)
		if a == b {
			if d != "" {
				t.Fatalf("equal files gave a diff:\n%s", d)
			}
			continue
		}
		if got := applyUnified(t, a, d); got != b {
			t.Fatalf("case %d: the diff does not turn\n%q into\n%q, but into\n%q:\n%s", i, a, b, got, d)
		}
	}
}

func TestUnifiedDiffOfAnEnvChange(t *testing.T) {
	a := "#!/bin/sh\nexport HOME=/opt/data\nexport TOKEN=old\ncd /opt/data\nexec hermes\n"
	b := "#!/bin/sh\nexport HOME=/opt/data\nexport TOKEN=new\nexport EXTRA=x\ncd /opt/data\nexec hermes\n"
	ma, mb := maskSecrets(a, b)
	got := unifiedDiff("gateway-coder/run", ma, mb)
	want := `--- gateway-coder/run (now)
+++ gateway-coder/run (planned)
@@ -1,5 +1,6 @@
 #!/bin/sh
 export HOME=/opt/data
-export TOKEN=(masked)
+export TOKEN=(masked, changed)
+export EXTRA=(masked)
 cd /opt/data
 exec hermes
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(got, "old") || strings.Contains(got, "new") {
		t.Error("a secret leaked")
	}
}
