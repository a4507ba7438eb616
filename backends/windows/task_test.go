package windows_test

import (
	"encoding/xml"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
	"github.com/hermes-reconcile/hermes-reconcile/backends/windows"
)

var _ = Describe("Render", func() {
	svc := host.Service{Profile: "coder", Home: `C:\Users\ada\.hermes\profiles\coder`,
		Command: host.GatewayArgs(`C:\Program Files\Hermes\hermes.exe`, "coder"),
		Env:     map[string]string{"TZ": "UTC", "PCT": "100% & <more>"}}

	It("writes task XML that parses back and names the trigger, action and restart policy", func() {
		s, err := windows.Render(svc, `HOST\ada`)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.XML[:2]).To(Equal([]byte{0xff, 0xfe}), "UTF-16LE with a BOM, as schtasks /XML reads it")
		text := windows.DecodeText(s.XML)
		Expect(text).To(HavePrefix(`<?xml version="1.0" encoding="UTF-16"?>` + "\r\n"))

		// Parse with encoding/xml alone, into a shape of its own.
		var doc struct {
			XMLName  xml.Name
			Triggers struct {
				Logon []struct {
					Enabled bool   `xml:"Enabled"`
					UserID  string `xml:"UserId"`
					Delay   string `xml:"Delay"`
				} `xml:"LogonTrigger"`
				Other []xml.Name `xml:",any"`
			} `xml:"Triggers"`
			Principal struct {
				UserID    string `xml:"UserId"`
				LogonType string `xml:"LogonType"`
				RunLevel  string `xml:"RunLevel"`
			} `xml:"Principals>Principal"`
			Settings struct {
				ExecutionTimeLimit      string `xml:"ExecutionTimeLimit"`
				MultipleInstancesPolicy string `xml:"MultipleInstancesPolicy"`
				Enabled                 bool   `xml:"Enabled"`
				Restart                 struct {
					Interval string `xml:"Interval"`
					Count    int    `xml:"Count"`
				} `xml:"RestartOnFailure"`
			} `xml:"Settings"`
			Exec []struct {
				Command   string `xml:"Command"`
				Arguments string `xml:"Arguments"`
				WorkDir   string `xml:"WorkingDirectory"`
			} `xml:"Actions>Exec"`
		}
		dec := xml.NewDecoder(strings.NewReader(strings.Replace(text, `encoding="UTF-16"`, `encoding="UTF-8"`, 1)))
		Expect(dec.Decode(&doc)).To(Succeed())
		Expect(doc.XMLName).To(Equal(xml.Name{Space: windows.TaskNS, Local: "Task"}))
		Expect(doc.Triggers.Logon).To(HaveLen(1))
		Expect(doc.Triggers.Other).To(BeEmpty(), "the logon trigger is the only trigger")
		Expect(doc.Triggers.Logon[0].Enabled).To(BeTrue())
		Expect(doc.Triggers.Logon[0].UserID).To(Equal(`HOST\ada`))
		Expect(doc.Triggers.Logon[0].Delay).To(Equal("PT30S"))
		Expect(doc.Principal.LogonType).To(Equal("InteractiveToken"))
		Expect(doc.Principal.RunLevel).To(Equal("LeastPrivilege"))
		Expect(doc.Settings.ExecutionTimeLimit).To(Equal("PT0S"), "no execution time limit")
		Expect(doc.Settings.MultipleInstancesPolicy).To(Equal("IgnoreNew"))
		Expect(doc.Settings.Enabled).To(BeTrue())
		Expect(doc.Settings.Restart.Interval).To(Equal("PT1M"), "the 5 s restart delay rounded up to Task Scheduler's minimum")
		Expect(doc.Settings.Restart.Count).To(Equal(999))
		Expect(doc.Exec).To(HaveLen(1))
		Expect(doc.Exec[0].Command).To(Equal("wscript.exe"))
		Expect(doc.Exec[0].Arguments).To(Equal(`//B //Nologo "C:\Users\ada\.hermes\profiles\coder/gateway-service/Hermes_Gateway_coder.vbs"`))
		Expect(doc.Exec[0].WorkDir).To(Equal(svc.Home))

		t, err := windows.ParseTask(s.XML)
		Expect(err).NotTo(HaveOccurred())
		Expect(t).To(Equal(windows.NewTask(svc, `HOST\ada`)))
	})

	It("writes a launcher that sets HERMES_HOME and runs the gateway, nothing expanded", func() {
		s, err := windows.Render(svc, `HOST\ada`)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(s.Cmd)).To(Equal("@echo off\r\n" +
			"rem hermes-reconcile: the gateway of profile coder. Rewritten when it differs.\r\n" +
			"chcp 65001 >nul\r\n" +
			`cd /d "C:\Users\ada\.hermes\profiles\coder"` + "\r\n" +
			`set "HERMES_HOME=C:\Users\ada\.hermes\profiles\coder"` + "\r\n" +
			`set "HERMES_SUPERVISED_CHILD=1"` + "\r\n" +
			`set "PCT=100%% & <more>"` + "\r\n" +
			`set "TZ=UTC"` + "\r\n" +
			`"C:\Program Files\Hermes\hermes.exe" "-p" "coder" "gateway" "run" "--replace"` + "\r\n" +
			"exit /b %ERRORLEVEL%\r\n"))
		vbs := windows.DecodeText(s.VBS)
		Expect(vbs).To(ContainSubstring(`WScript.Quit sh.Run("cmd.exe /d /c ""C:\Users\ada\.hermes\profiles\coder/gateway-service/Hermes_Gateway_coder.cmd""", 0, True)`))
	})

	It("refuses a double quote the launcher could not carry", func() {
		bad := svc
		bad.Env = map[string]string{"Q": `a"b`}
		_, err := windows.Render(bad, `HOST\ada`)
		Expect(err).To(MatchError(ContainSubstring("double quote")))
	})

	It("names tasks as Hermes does", func() {
		Expect(windows.TaskName("default")).To(Equal("Hermes_Gateway"))
		Expect(windows.TaskName("coder")).To(Equal("Hermes_Gateway_coder"))
	})
})
