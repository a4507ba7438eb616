package desired_test

import (
	"errors"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

var _ = Describe("the topology", func() {
	DescribeTable("ParseVersion",
		func(in string, want desired.Version, ok bool) {
			v, err := desired.ParseVersion(in)
			if !ok {
				Expect(err).To(HaveOccurred())
				return
			}
			Expect(err).NotTo(HaveOccurred())
			Expect(v).To(Equal(want))
		},
		Entry("a release", "0.21.4", desired.Version{0, 21, 4}, true),
		Entry("a tag", "v0.21.4", desired.Version{0, 21, 4}, true),
		Entry("a release candidate", "0.21.6-rc3", desired.Version{0, 21, 6}, true),
		Entry("a PEP 440 pre-release", "0.22.0rc1", desired.Version{0, 22, 0}, true),
		Entry("a dev build", "0.21.4.dev12", desired.Version{0, 21, 4}, true),
		Entry("two parts", "1.2", desired.Version{1, 2, 0}, true),
		Entry("an epoch", "1!2.0", desired.Version{}, false),
		Entry("no number", "latest", desired.Version{}, false),
		Entry("empty", "", desired.Version{}, false),
	)

	DescribeTable("ParsePyproject",
		func(data, want, err string) {
			v, e := desired.ParsePyproject([]byte(data))
			if err != "" {
				Expect(e).To(MatchError(ContainSubstring(err)))
				return
			}
			Expect(e).NotTo(HaveOccurred())
			Expect(v).To(Equal(want))
		},
		Entry("Hermes's", "[build-system]\nrequires = [\"setuptools\"]\n\n[project]\nname = \"hermes-agent\"\nversion = \"0.21.3\" # release\ndescription = \"x\"\n", "0.21.3", ""),
		Entry("single quotes", "[project]\nname = 'hermes-agent'\nversion = '0.20.6'\n", "0.20.6", ""),
		Entry("a version in another table only", "[project]\nname = \"hermes-agent\"\n[tool.x]\nversion = \"9.9.9\"\n", "", "no [project] version"),
		Entry("a dynamic version", "[project]\nname = \"hermes-agent\"\ndynamic = [\"version\"]\n", "", "dynamic"),
		Entry("another project", "[project]\nname = \"hermes\"\nversion = \"0.1.0\"\n", "", `not Hermes's: [project] name is "hermes"`),
	)

	DescribeTable("ParseMetadata",
		func(data, want, err string) {
			v, e := desired.ParseMetadata([]byte(data))
			if err != "" {
				Expect(e).To(MatchError(ContainSubstring(err)))
				return
			}
			Expect(e).NotTo(HaveOccurred())
			Expect(v).To(Equal(want))
		},
		Entry("Hermes's", "Metadata-Version: 2.4\nName: hermes-agent\nVersion: 0.21.4\n\nVersion: 9.9.9 in the body\n", "0.21.4", ""),
		Entry("the normalised name", "Name: hermes_agent\r\nVersion: 0.19.0\r\n", "0.19.0", ""),
		Entry("another package", "Name: requests\nVersion: 2.0.0\n", "", "not Hermes's metadata"),
	)

	Describe("ReadHermes", func() {
		It("reads pyproject.toml, else the metadata beside the checkout, else the virtualenv's, else says what it looked at", func() {
			root := GinkgoT().TempDir()
			h := desired.ReadHermes(root)
			Expect(h.Known).To(BeFalse())
			Expect(h.Err).To(MatchError("no " + filepath.Join(root, "pyproject.toml")))

			venv := filepath.Join(root, ".venv", "lib", "python3.11", "site-packages", "hermes_agent-0.18.0.dist-info")
			Expect(os.MkdirAll(venv, 0o755)).To(Succeed())
			Expect(os.WriteFile(filepath.Join(venv, "METADATA"), []byte("Name: hermes-agent\nVersion: 0.18.0\n"), 0o644)).To(Succeed())
			h = desired.ReadHermes(root)
			Expect(h.Known).To(BeTrue())
			Expect(h.Version).To(Equal(desired.Version{0, 18, 0}))
			Expect(h.Source).To(Equal(filepath.Join(venv, "METADATA")))

			beside := filepath.Join(root, "hermes_agent-0.21.4.dist-info")
			Expect(os.MkdirAll(beside, 0o755)).To(Succeed())
			Expect(os.WriteFile(filepath.Join(beside, "METADATA"), []byte("Name: hermes-agent\nVersion: 0.21.4\n"), 0o644)).To(Succeed())
			Expect(desired.ReadHermes(root).Version).To(Equal(desired.Version{0, 21, 4}))

			Expect(os.WriteFile(filepath.Join(root, "pyproject.toml"), []byte("[project]\nname = \"hermes-agent\"\nversion = \"0.21.5\"\n"), 0o644)).To(Succeed())
			h = desired.ReadHermes(root)
			Expect(h.Version).To(Equal(desired.Version{0, 21, 5}))
			Expect(h.Source).To(Equal(filepath.Join(root, "pyproject.toml")))
		})
	})

	yes, no := true, false
	known := func(v string) desired.HermesInstall {
		ver, err := desired.ParseVersion(v)
		Expect(err).NotTo(HaveOccurred())
		return desired.HermesInstall{Version: ver, Known: true, Source: "pyproject.toml"}
	}
	unknown := desired.HermesInstall{Err: errors.New("no pyproject.toml")}
	DescribeTable("DecideTopology: one row per rule, its version's rule or the operator's word",
		func(mode desired.TopologyMode, boot bool, h desired.HermesInstall, key *bool, cfgOK bool, env string, want string) {
			Expect(desired.DecideTopology(mode, boot, h, key, cfgOK, env).String()).To(Equal(want))
		},
		Entry("before #112854, absent: per-profile", desired.TopologyAuto, true, known("0.21.3"), nil, true, "",
			"per-profile. Hermes 0.21.3 (pyproject.toml): before 0.21.4, multiplex_profiles in the root config.yaml (or GATEWAY_MULTIPLEX_PROFILES) decides; absent: per-profile."),
		Entry("before #112854, the key", desired.TopologyAuto, true, known("0.15.2"), &yes, true, "",
			"multiplex. Hermes 0.15.2 (pyproject.toml): before 0.21.4, multiplex_profiles in the root config.yaml (or GATEWAY_MULTIPLEX_PROFILES) decides; absent: per-profile."),
		Entry("before #112854, the environment over the key", desired.TopologyAuto, true, known("0.20.6"), &yes, true, "off",
			"per-profile. Hermes 0.20.6 (pyproject.toml): before 0.21.4, multiplex_profiles in the root config.yaml (or GATEWAY_MULTIPLEX_PROFILES) decides; absent: per-profile."),
		Entry("before #112854, a broken root config: unknown", desired.TopologyAuto, true, known("0.20.6"), nil, false, "",
			"unknown. Hermes 0.20.6 (pyproject.toml): before 0.21.4, multiplex_profiles in the root config.yaml (or GATEWAY_MULTIPLEX_PROFILES) decides; absent: per-profile; the root config.yaml cannot be read, so no gateway's run state is touched."),
		Entry("from #112854 on a host, absent: multiplex", desired.TopologyAuto, false, known("0.21.4"), nil, true, "",
			"multiplex. Hermes 0.21.4 (pyproject.toml): from 0.21.4 (#112854), multiplex_profiles in the root config.yaml (or GATEWAY_MULTIPLEX_PROFILES) decides; absent: multiplex."),
		Entry("from #112854 on a host, false: per-profile", desired.TopologyAuto, false, known("0.22.0"), &no, true, "",
			"per-profile. Hermes 0.22.0 (pyproject.toml): from 0.21.4 (#112854), multiplex_profiles in the root config.yaml (or GATEWAY_MULTIPLEX_PROFILES) decides; absent: multiplex."),
		Entry("from #118273 in a container, false: the boot folds", desired.TopologyAuto, true, known("0.21.4"), &no, true, "false",
			"multiplex. Hermes 0.21.4 (pyproject.toml): from 0.21.4 (#118273), the container boot folds every named profile into the root gateway, whatever the config says."),
		Entry("from #118273, a broken root config: still known", desired.TopologyAuto, true, known("0.21.4"), nil, false, "",
			"multiplex. Hermes 0.21.4 (pyproject.toml): from 0.21.4 (#118273), the container boot folds every named profile into the root gateway, whatever the config says."),
		Entry("unknown version: multiplex, the safe side", desired.TopologyAuto, true, unknown, &no, true, "false",
			"multiplex. Hermes version unknown (no pyproject.toml): the safe side, as a named gateway left down can be seen and started and two on one bot token cannot be undone; set --topology or --hermes-root to decide otherwise."),
		Entry("forced per-profile", desired.TopologyPerProfile, true, known("0.21.4"), &yes, true, "true",
			"per-profile. --topology per-profile: forced by the operator, each profile's gateway follows its own intent."),
		Entry("forced multiplex", desired.TopologyMultiplex, true, known("0.15.2"), &no, false, "",
			"multiplex. --topology multiplex: forced by the operator, the root gateway serves every profile."),
	)
})
