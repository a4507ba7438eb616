package desired_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

const strongKey = "0123456789abcdef0123"

// claimHome is a HERMES_HOME in a temp dir, and a managed .env beside it.
type claimHome struct {
	t             testing.TB
	root, managed string
}

func newClaimHome(t *testing.T) claimHome {
	dir := t.TempDir()
	h := claimHome{t: t, root: filepath.Join(dir, "home"), managed: filepath.Join(dir, "managed", ".env")}
	h.write("config.yaml", "model: x\n")
	return h
}

// write writes rel under the root, an hour old (well clear of the
// cache's racily-clean window), by rename as editors and Hermes do.
func (h claimHome) write(rel, data string) {
	h.t.Helper()
	writeOld(h.t, filepath.Join(h.root, rel), data)
}

func writeOld(t testing.TB, p, data string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

func (h claimHome) profile(name, env string) {
	h.t.Helper()
	h.write("profiles/"+name+"/SOUL.md", "# "+name+"\n")
	if env != "" {
		h.write("profiles/"+name+"/.env", env)
	}
}

func (h claimHome) options(inherited map[string]string) desired.Options {
	return desired.Options{HermesVersion: "0.21.3", Topology: desired.TopologyPerProfile, Claims: true,
		InheritedEnv: inherited, ManagedEnvFile: h.managed}
}

// claimsByProfile renders each service's claims, "profile: Kind <- From".
func claimsByProfile(st desired.State) []string {
	var out []string
	for _, s := range st.Services {
		for _, c := range s.Claims {
			out = append(out, s.Profile+": "+c.Kind+" <- "+c.From)
		}
	}
	return out
}

func load(t *testing.T, r *desired.Reader) desired.State {
	t.Helper()
	st, err := r.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestLoadClaims: every service carries its gateway's claims, each from
// its own layers: the inherited environment reaches every profile, the
// root's .env only default, the managed .env every profile.
func TestLoadClaims(t *testing.T) {
	h := newClaimHome(t)
	h.write(".env", "TELEGRAM_BOT_TOKEN=root-token\n")
	h.profile("coder", "TELEGRAM_BOT_TOKEN=root-token\nAPI_SERVER_ENABLED=false\n")
	h.profile("quiet", "")
	h.profile("masked", "API_SERVER_KEY=\n")
	writeOld(t, h.managed, "DISCORD_BOT_TOKEN=managed-token\n")

	st := load(t, desired.NewReader(h.root, h.options(map[string]string{"API_SERVER_KEY": strongKey})))
	want := []string{
		"default: Telegram bot token <- TELEGRAM_BOT_TOKEN (profile .env)",
		"default: Discord bot token <- DISCORD_BOT_TOKEN (managed .env)",
		"default: API server port 8642 <- default",
		"coder: Telegram bot token <- TELEGRAM_BOT_TOKEN (profile .env)",
		"coder: Discord bot token <- DISCORD_BOT_TOKEN (managed .env)",
		"coder: API server port 8642 <- default", // #80310: the inherited key enables it
		"masked: Discord bot token <- DISCORD_BOT_TOKEN (managed .env)",
		"quiet: Discord bot token <- DISCORD_BOT_TOKEN (managed .env)", // not the root's token
		"quiet: API server port 8642 <- default",
	}
	if got := claimsByProfile(st); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("claims:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	def, coder, quiet := st.Service("default"), st.Service("coder"), st.Service("quiet")
	if got := def.Claims.Shared(coder.Claims); len(got) != 3 {
		t.Errorf("default and coder share %v, want the Telegram token, the Discord token and 8642", got)
	}
	if got := def.Claims.Shared(quiet.Claims); len(got) != 2 {
		t.Errorf("default and quiet share %v, want the Discord token and 8642", got)
	}
}

// TestLoadClaimsManagedDir: without ManagedEnvFile, the managed .env is
// where HERMES_MANAGED_DIR says, as the gateway's own environment (its
// .env included) sets it.
func TestLoadClaimsManagedDir(t *testing.T) {
	h := newClaimHome(t)
	dirs := t.TempDir()
	writeOld(t, filepath.Join(dirs, "a", ".env"), "DISCORD_BOT_TOKEN=a-token\n")
	writeOld(t, filepath.Join(dirs, "b", ".env"), "SLACK_BOT_TOKEN=xoxb\nSLACK_APP_TOKEN=xapp\n")
	h.profile("coder", "HERMES_MANAGED_DIR="+filepath.Join(dirs, "b")+"\n")
	opt := h.options(map[string]string{"HERMES_MANAGED_DIR": filepath.Join(dirs, "a")})
	opt.ManagedEnvFile = ""
	st := load(t, desired.NewReader(h.root, opt))
	want := []string{"default: Discord bot token <- DISCORD_BOT_TOKEN (managed .env)", "coder: Slack app token <- SLACK_APP_TOKEN (managed .env)"}
	if got := claimsByProfile(st); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("claims %v, want %v", got, want)
	}
}

// TestLoadClaimsOff: without Options.Claims no .env is read and no service
// has claims.
func TestLoadClaimsOff(t *testing.T) {
	h := newClaimHome(t)
	h.write(".env", "TELEGRAM_BOT_TOKEN=root-token\n")
	h.profile("coder", "TELEGRAM_BOT_TOKEN=root-token\n")
	writeOld(t, h.managed, "DISCORD_BOT_TOKEN=managed-token\n")
	opt := h.options(nil)
	opt.Claims = false
	r := desired.NewReader(h.root, opt)
	st := load(t, r)
	if got := claimsByProfile(st); len(got) != 0 {
		t.Errorf("claims without Options.Claims: %v", got)
	}
	if _, reads := r.CacheStats(); reads != 1 {
		t.Errorf("%d files read, want 1 (the root config.yaml; no .env)", reads)
	}
}

// TestClaimsCache: a pass over unchanged profiles reads no file again,
// and looks the managed .env up once; a change to one profile's .env
// costs one read, for that profile.
func TestClaimsCache(t *testing.T) {
	h := newClaimHome(t)
	h.write(".env", "TELEGRAM_BOT_TOKEN=root-token\n")
	for _, p := range []string{"a", "b", "c"} {
		h.profile(p, "DISCORD_BOT_TOKEN="+p+"-token\n")
	}
	writeOld(t, h.managed, "API_SERVER_KEY="+strongKey+"\n")
	r := desired.NewReader(h.root, h.options(nil))

	load(t, r)
	lookups0, reads0 := r.CacheStats()
	// The root: config.yaml and .env; each profile: config.yaml (none
	// here, a lookup), .env, and the intent file; and the managed .env.
	if reads0 != 6 {
		t.Fatalf("first load read %d files, want 6 (root config.yaml and .env, three .env, the managed .env)", reads0)
	}
	st := load(t, r)
	lookups1, reads1 := r.CacheStats()
	if reads1 != reads0 {
		t.Fatalf("a second load of unchanged files read %d files again", reads1-reads0)
	}
	if perPass := lookups1 - lookups0; perPass != 3*4+1 {
		t.Errorf("a pass looked %d files up, want 13: three per profile and the managed .env once", perPass)
	}
	if len(st.Service("b").Claims) != 2 {
		t.Fatalf("b's claims from the cache: %v", st.Service("b").Claims)
	}

	h.write("profiles/b/.env", "DISCORD_BOT_TOKEN=a-token\n")
	st = load(t, r)
	if _, reads := r.CacheStats(); reads != reads1+1 {
		t.Errorf("one .env changed and %d files were read", reads-reads1)
	}
	if len(st.Service("a").Claims.Shared(st.Service("b").Claims)) != 2 {
		t.Errorf("b's new token was not seen: a %v, b %v", st.Service("a").Claims, st.Service("b").Claims)
	}

	writeOld(t, h.managed, "API_SERVER_KEY=short\n")
	st = load(t, r)
	if _, reads := r.CacheStats(); reads != reads1+2 {
		t.Errorf("the managed .env changed and %d files were read", reads-reads1-1)
	}
	for _, s := range st.Services {
		if len(s.Claims) != 1 {
			t.Errorf("%s kept a port its weak managed key cannot open: %v", s.Profile, s.Claims)
		}
	}
}

// TestLoadClaimsDiagnostics: a malformed .env line is a warning that names
// the file and line, and the gateway's other lines still count; an .env
// that cannot be read holds its profile; two listeners on one port in one
// gateway are a warning.
func TestLoadClaimsDiagnostics(t *testing.T) {
	h := newClaimHome(t)
	h.profile("typo", "export =oops\nDISCORD_BOT_TOKEN=dc-token\n")
	h.profile("broken", "")
	if err := os.MkdirAll(filepath.Join(h.root, "profiles/broken/.env"), 0o755); err != nil {
		t.Fatal(err)
	}
	h.profile("clash", "LINE_CHANNEL_ACCESS_TOKEN=l\nLINE_CHANNEL_SECRET=s\nMSGRAPH_WEBHOOK_ENABLED=true\nMSGRAPH_WEBHOOK_CLIENT_STATE=c\n")
	st := load(t, desired.NewReader(h.root, h.options(nil)))

	var got []string
	for _, d := range st.Diagnostics {
		got = append(got, d.Severity.String()+" "+d.Profile+" "+strings.TrimPrefix(d.String(), h.root+"/"))
	}
	want := []string{
		"error broken profiles/broken/.env: cannot read .env: not a regular file; its slot is left as it is",
		"warning clash profiles/clash: LINE webhook port 8646 and Microsoft Graph webhook port 8646 in one gateway: one of them will fail to bind; give one another port",
		"warning typo profiles/typo/.env:1: not a KEY=VALUE statement; Hermes (python-dotenv) skips it too",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("diagnostics:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if !st.Held["broken"] || st.Service("broken") != nil {
		t.Errorf("a profile whose .env cannot be read must be held")
	}
	if s := st.Service("typo"); s == nil || len(s.Claims) != 1 {
		t.Errorf("typo's good line was lost: %+v", s)
	}
}

// TestClaimsKeepSecrets: no secret value reaches a claim's print or JSON,
// a service's, or any diagnostic, malformed lines included.
func TestClaimsKeepSecrets(t *testing.T) {
	secrets := []string{"111111:tg-secret-aaaa", "dc-secret-bbbb", "xapp-secret-cccc", strongKey, "line-secret-dddd", "wx-secret-eeee"}
	h := newClaimHome(t)
	h.write(".env", "TELEGRAM_BOT_TOKEN="+secrets[0]+"\nDISCORD_BOT_TOKEN='"+secrets[1]+"\n"+ // unterminated: malformed
		"SLACK_BOT_TOKEN=xoxb-1\nSLACK_APP_TOKEN="+secrets[2]+"\n"+secrets[1]+" "+secrets[0]+"\n")
	h.profile("coder", "LINE_CHANNEL_ACCESS_TOKEN="+secrets[4]+"\nLINE_CHANNEL_SECRET=s\n=\""+secrets[4]+"\"\n")
	h.write("profiles/coder/config.yaml", "platforms:\n  weixin:\n    enabled: true\n    token: "+secrets[5]+"\n    extra: {account_id: a}\n")
	writeOld(t, h.managed, "API_SERVER_KEY="+secrets[3]+"\n"+secrets[3]+"\n")
	st := load(t, desired.NewReader(h.root, h.options(map[string]string{"TELEGRAM_BOT_TOKEN": secrets[0]})))

	var all []desired.Claim
	for _, s := range st.Services {
		all = append(all, s.Claims...)
	}
	if len(all) < 6 {
		t.Fatalf("only %d claims: the test would prove little", len(all))
	}
	js, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	svcJS, err := json.Marshal(st.Services)
	if err != nil {
		t.Fatal(err)
	}
	outs := []string{fmt.Sprintf("%v %+v %#v", all, all, all), string(js), string(svcJS), fmt.Sprintf("%v %+v %#v", st, st, st)}
	for _, c := range all {
		outs = append(outs, c.String(), fmt.Sprint(c.Key()))
	}
	if len(st.Diagnostics) < 3 {
		t.Fatalf("only %d diagnostics: %v", len(st.Diagnostics), st.Diagnostics)
	}
	for _, d := range st.Diagnostics {
		outs = append(outs, d.String(), fmt.Sprintf("%+v", d))
	}
	for _, out := range outs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("secret %q leaks in %s", s, out)
			}
		}
	}
}

// BenchmarkLoadClaims: a pass over 200 unchanged profiles, claims off and
// on: with the cache, reading claims costs a stat per .env and the managed
// .env once, nothing else.
func BenchmarkLoadClaims(b *testing.B) {
	h := claimHome{t: b, root: filepath.Join(b.TempDir(), "home"), managed: filepath.Join(b.TempDir(), ".env")}
	h.write("config.yaml", "model: x\n")
	for i := range 200 {
		p := fmt.Sprintf("p%03d", i)
		h.profile(p, fmt.Sprintf("TELEGRAM_BOT_TOKEN=%d:token\nAPI_SERVER_KEY=%s\nAPI_SERVER_PORT=%d\n", i, strongKey, 9000+i))
		h.write("profiles/"+p+"/config.yaml", "platforms:\n  discord:\n    enabled: true\n    token: d"+p+"\n")
	}
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("claims=%v", on), func(b *testing.B) {
			opt := h.options(nil)
			opt.Claims = on
			r := desired.NewReader(h.root, opt)
			if _, err := r.Load(nil); err != nil {
				b.Fatal(err)
			}
			_, reads := r.CacheStats()
			b.ResetTimer()
			for range b.N {
				if _, err := r.Load(nil); err != nil {
					b.Fatal(err)
				}
			}
			if _, again := r.CacheStats(); again != reads {
				b.Fatalf("unchanged passes read %d files", again-reads)
			}
		})
	}
}

// TestInheritedClaims: gateways with nothing of their own (no .env, no
// platform in config.yaml) claim what they inherit, worked out once a
// pass; a claim that names the gateway's home (a WhatsApp session) is still
// each gateway's own, so two of them do not clash over it.
func TestInheritedClaims(t *testing.T) {
	h := newClaimHome(t)
	h.profile("a", "")
	h.profile("b", "")
	st := load(t, desired.NewReader(h.root, h.options(map[string]string{"TELEGRAM_BOT_TOKEN": "inherited-token"})))
	a, b := st.Service("a"), st.Service("b")
	if got := a.Claims.Shared(b.Claims); len(got) != 1 || got[0].Kind != "Telegram bot token" {
		t.Errorf("a and b share %v, want the inherited Telegram token", got)
	}

	st = load(t, desired.NewReader(h.root, h.options(map[string]string{"WHATSAPP_ENABLED": "true"})))
	a, b = st.Service("a"), st.Service("b")
	shared := a.Claims.Shared(b.Claims)
	if len(shared) != 1 || shared[0].Kind != "WhatsApp bridge port 3000" {
		t.Errorf("a and b share %v, want the bridge port only (each has its own session)", shared)
	}
}
