package host_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/test/host/standin"
)

// These specs run the binary with --backend launchd and --backend windows
// against the stand-in launchctl and schtasks (first on PATH), which
// emulate programs that cannot run here (they are macOS's and Windows's).
// The exec code of both backends is plain os/exec, so it runs on Linux.
var _ = Describe("the launchd and Windows backends, end to end", func() {
	var w *world
	BeforeEach(func() { w = newWorld() })

	It("launchd: installs and loads (bootstrap exit 5 retried), idles, stops, removes", func() {
		domain := fmt.Sprintf("gui/%d", os.Getuid())
		plist := filepath.Join(w.userHome, "Library", "LaunchAgents", "ai.hermes.gateway-coder.plist")
		w.intent("running")
		w.st.Set("bootstrap-eio", "")
		s := w.run("--once", "--backend", "launchd")
		Expect(s.ExitCode()).To(Equal(0))
		Expect(string(s.Out.Contents())).To(HavePrefix(topology + "+ ai.hermes.gateway-coder  create (up)  profile_added\n"))
		Expect(w.st.Calls()).To(ContainElements("launchctl bootstrap "+domain+" "+plist, "launchctl bootout "+domain+"/ai.hermes.gateway-coder"))
		Expect(plist).To(BeARegularFile())

		s = w.run("--once", "--backend", "launchd")
		Expect(string(s.Out.Contents())).To(Equal(topology + "No changes. Services match the profiles.\n"))
		Expect(w.st.Calls()).To(Equal([]string{"launchctl print " + domain + "/ai.hermes.gateway-coder"}))

		s = w.run("status", "--backend", "launchd", "--output", "json")
		evs := ndjson(s.Out.Contents())
		Expect(evs[0]).To(HaveKeyWithValue("backend", "launchd"))
		Expect(keys(evs[1])).To(ConsistOf(statusKeys))
		Expect(evs[1]).To(HaveKeyWithValue("actual", "up"))
		Expect(evs[1]).To(HaveKeyWithValue("pid", BeNumerically("==", 4242)))

		w.intent("stopped")
		s = w.run("--once", "--backend", "launchd")
		Expect(string(s.Out.Contents())).To(HavePrefix(topology + "< ai.hermes.gateway-coder  stop  intent_stopped\n"))

		Expect(os.RemoveAll(w.home)).To(Succeed())
		s = w.run("--once", "--backend", "launchd")
		Expect(string(s.Out.Contents())).To(HavePrefix(topology + "- ai.hermes.gateway-coder  remove  profile_removed\n"))
		Expect(plist).NotTo(BeAnExistingFile())
	})

	It("windows: registers, runs, idles, re-registers a stale task, ends, deletes", func() {
		const task = "Hermes_Gateway_coder"
		w.intent("running")
		s := w.run("--once", "--backend", "windows")
		Expect(s.ExitCode()).To(Equal(0))
		Expect(string(s.Out.Contents())).To(HavePrefix(topology + "+ Hermes_Gateway_coder  create (up)  profile_added\n"))
		xml := filepath.Join(w.home, "gateway-service", task+".task.xml")
		Expect(w.st.Calls()).To(Equal([]string{"schtasks /Query /TN " + task + " /XML",
			"schtasks /Create /TN " + task + " /XML " + xml + " /F", "schtasks /Run /TN " + task}))

		s = w.run("--once", "--backend", "windows")
		Expect(string(s.Out.Contents())).To(Equal(topology + "No changes. Services match the profiles.\n"))

		s = w.run("status", "--backend", "windows")
		Expect(string(s.Out.Contents())).To(MatchRegexp(`coder\s+Hermes_Gateway_coder\s+running\s+up\s+up\s+`))

		writeFile(filepath.Join(w.home, "gateway-service", task+".vbs"), "old")
		s = w.run("--dry-run", "--backend", "windows")
		Expect(string(s.Out.Contents())).To(Equal(topology + "~ Hermes_Gateway_coder  update Hermes_Gateway_coder.vbs  spec_changed\n" +
			"Plan: 0 to create, 1 to update, 0 to remove, 0 to start, 0 to stop.\n"))
		s = w.run("--once", "--backend", "windows")
		Expect(w.st.Calls()).To(ContainElement("schtasks /Create /TN " + task + " /XML " + xml + " /F"))

		w.intent("stopped")
		s = w.run("--once", "--backend", "windows")
		Expect(w.st.Calls()).To(ContainElement("schtasks /End /TN " + task))

		writeFile(filepath.Join(w.root, "profiles", ".deleted", "coder"), "")
		s = w.run("--once", "--backend", "windows")
		Expect(string(s.Out.Contents())).To(HavePrefix(topology + "- Hermes_Gateway_coder  remove  profile_tombstoned\n"))
		Expect(w.st.Calls()).To(ContainElement("schtasks /Delete /TN " + task + " /F"))
	})

	It("windows: on a German Windows, a running gateway is up and a stopped one down", func() {
		const task = "Hermes_Gateway_coder"
		reads := []string{"schtasks /Query /TN " + task + " /XML",
			"powershell -NoProfile -NonInteractive -Command $ErrorActionPreference='Stop'; " +
				"[int](Get-ScheduledTask -TaskName '" + task + "' -TaskPath '\\').State"}
		w.st.Set("locale", "de")
		w.intent("running")
		s := w.run("--once", "--backend", "windows")
		Expect(s.ExitCode()).To(Equal(0))
		Expect(string(s.Out.Contents())).To(HavePrefix(topology + "+ Hermes_Gateway_coder  create (up)  profile_added\n"))

		By("schtasks says \"Wird ausgeführt\" (in code page 850), which is not taken for down")
		q := exec.Command(filepath.Join(standin.Dir(), "schtasks"), "/Query", "/TN", task, "/FO", "CSV", "/NH")
		q.Env = w.env
		Expect(q.Output()).To(Equal([]byte("\"\\" + task + "\",\"Nicht zutreffend\",\"Wird ausgef\x81hrt\"\n")))
		s = w.run("--once", "--backend", "windows")
		Expect(s.ExitCode()).To(Equal(0))
		Expect(string(s.Out.Contents())).To(Equal(topology + "No changes. Services match the profiles.\n"))
		Expect(w.st.Calls()).To(Equal(reads))
		s = w.run("status", "--backend", "windows")
		Expect(string(s.Out.Contents())).To(MatchRegexp(`coder\s+Hermes_Gateway_coder\s+running\s+up\s+up\s+`))

		By("stopped, it is down: one stop, then nothing")
		w.intent("stopped")
		s = w.run("--once", "--backend", "windows")
		Expect(string(s.Out.Contents())).To(HavePrefix(topology + "< Hermes_Gateway_coder  stop  intent_stopped\n"))
		Expect(w.st.Calls()).To(Equal(append(reads, "schtasks /End /TN "+task)))
		s = w.run("--once", "--backend", "windows")
		Expect(s.ExitCode()).To(Equal(0))
		Expect(string(s.Out.Contents())).To(Equal(topology + "No changes. Services match the profiles.\n"))
		Expect(w.st.Calls()).To(Equal(reads))
		s = w.run("status", "--backend", "windows", "--output", "json")
		evs := ndjson(s.Out.Contents())
		Expect(evs[1]).To(HaveKeyWithValue("want", "down"))
		Expect(evs[1]).To(HaveKeyWithValue("actual", "down"))
	})
})
