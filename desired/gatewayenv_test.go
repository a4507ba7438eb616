package desired

import (
	"fmt"
	"testing"
)

// TestGatewayEnvLoad: a .env loaded over an environment as python-dotenv's
// load_dotenv(override=True) loads it (checked against python-dotenv
// 1.2.2 on 90,000 generated files): ${VAR} and ${VAR:-default} only,
// earlier lines first, and a bare KEY hiding KEY from later references.
func TestGatewayEnvLoad(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		file string
		want string // A, B and C as set afterwards
	}{
		{name: "override", env: map[string]string{"A": "old"}, file: "A=new\n", want: "map[A:new]"},
		{name: "reference the environment", env: map[string]string{"B": "b"}, file: "A=x${B}y\n", want: "map[A:xby B:b]"},
		{name: "reference an earlier line", file: "B=1\nA=${B}${B}\n", want: "map[A:11 B:1]"},
		{name: "a later line is not seen", file: "A=${B}\nB=1\n", want: "map[A: B:1]"},
		{name: "default when unset", file: "A=${B:-d}\n", want: "map[A:d]"},
		{name: "no default when set empty", env: map[string]string{"B": ""}, file: "A=${B:-d}\n", want: "map[A: B:]"},
		{name: "no $NAME form", env: map[string]string{"B": "b"}, file: "A=$B\n", want: "map[A:$B B:b]"},
		{name: "single quotes expand too", env: map[string]string{"B": "b"}, file: "A='${B}'\n", want: "map[A:b B:b]"},
		{name: "a bare key hides the environment's", env: map[string]string{"B": "b"}, file: "B\nA=${B:-d}\n", want: "map[A: B:b]"},
		{name: "a key's own earlier bare line", env: map[string]string{"A": "e"}, file: "A\nA=${A}x\n", want: "map[A:x]"},
		{name: "the last line wins, a bare one sets nothing", env: map[string]string{"A": "e"}, file: "A=1\nA\n", want: "map[A:e]"},
		{name: "not a reference", file: "A=${B:x}${}\n", want: "map[A:${B:x}]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := ParseDotEnv(".env", []byte(tc.file))
			ge := newGatewayEnv(tc.env)
			ge.load(b, "f")
			got := map[string]string{}
			for _, k := range []string{"A", "B", "C"} {
				if v, ok := ge.lookup(k); ok {
					got[k] = v
				}
			}
			if fmt.Sprint(got) != tc.want {
				t.Errorf("got %v, want %s", got, tc.want)
			}
		})
	}
}

// TestExpandConfig: config.yaml's ${NAME}, left as written when NAME is
// not set.
func TestExpandConfig(t *testing.T) {
	env := map[string]string{"A": "a", "A:-x": "odd", "E": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for in, want := range map[string]string{
		"${A}":          "a",
		"x${A}y${A}":    "xaya",
		"${B}":          "${B}",
		"${E}":          "",
		"${A:-x}":       "odd",
		"${}${A}":       "${}a",
		"${A":           "${A",
		"$A ${A} $${A}": "$A a $a",
	} {
		if got := expandConfig(in, lookup); got != want {
			t.Errorf("expandConfig(%q) = %q, want %q", in, got, want)
		}
	}
}
