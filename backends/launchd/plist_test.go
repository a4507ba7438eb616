package launchd_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"howett.net/plist"

	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
	"github.com/hermes-reconcile/hermes-reconcile/backends/launchd"
)

var _ = Describe("Plist", func() {
	It("parses back with a real plist parser to the intended keys", func() {
		svc := host.Service{Profile: "coder", Home: "/Users/ada/.hermes/profiles/coder",
			Command: host.GatewayArgs("/opt/homebrew/bin/hermes", "coder"), Env: map[string]string{"TZ": "UTC", "ODD": `<&> "q"`}}
		j, err := launchd.NewJob(svc)
		Expect(err).NotTo(HaveOccurred())
		data, err := launchd.Plist(j)
		Expect(err).NotTo(HaveOccurred())

		var doc map[string]any
		format, err := plist.Unmarshal(data, &doc)
		Expect(err).NotTo(HaveOccurred())
		Expect(format).To(Equal(plist.XMLFormat))
		Expect(doc).To(Equal(map[string]any{
			"Label":            "ai.hermes.gateway-coder",
			"ProgramArguments": []any{"/opt/homebrew/bin/hermes", "-p", "coder", "gateway", "run", "--replace"},
			"WorkingDirectory": "/Users/ada/.hermes/profiles/coder",
			"EnvironmentVariables": map[string]any{
				"HERMES_HOME": "/Users/ada/.hermes/profiles/coder", "HERMES_SUPERVISED_CHILD": "1",
				"TZ": "UTC", "ODD": `<&> "q"`,
			},
			"LimitLoadToSessionType": []any{"Aqua", "Background"},
			"RunAtLoad":              true,
			"KeepAlive":              true,
			"ThrottleInterval":       uint64(5),
			"StandardOutPath":        "/Users/ada/.hermes/profiles/coder/logs/gateway.log",
			"StandardErrorPath":      "/Users/ada/.hermes/profiles/coder/logs/gateway.error.log",
		}))
		Expect(string(data)).To(HavePrefix(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN"`))

		back, err := launchd.ParsePlist(data)
		Expect(err).NotTo(HaveOccurred())
		Expect(back).To(Equal(j))
	})

	It("is the same bytes every time", func() {
		svc := host.Service{Profile: "default", Home: "/h", Command: []string{"/bin/hermes"},
			Env: map[string]string{"B": "2", "A": "1", "C": "3"}}
		j, _ := launchd.NewJob(svc)
		a, _ := launchd.Plist(j)
		for range 20 {
			j, _ := launchd.NewJob(svc)
			Expect(launchd.Plist(j)).To(Equal(a))
		}
	})

	It("labels jobs as Hermes does", func() {
		Expect(launchd.Label("default")).To(Equal("ai.hermes.gateway"))
		Expect(launchd.Label("coder")).To(Equal("ai.hermes.gateway-coder"))
	})
})
