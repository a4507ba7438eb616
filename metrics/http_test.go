package metrics_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/metrics"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile/loop"
)

var _ = Describe("Serve", func() {
	var (
		m    *metrics.Metrics
		base string
		stop context.CancelFunc
		done chan error
	)
	BeforeEach(func() {
		m = metrics.New(metrics.Options{Engine: "s6", Stale: time.Minute})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		base = "http://" + l.Addr().String()
		var ctx context.Context
		ctx, stop = context.WithCancel(context.Background())
		done = make(chan error, 1)
		go func() { done <- metrics.Serve(ctx, l, m) }()
		DeferCleanup(func() {
			stop()
			Eventually(done).Should(Receive(BeNil()))
		})
	})
	get := func(method, path string) (*http.Response, string) {
		req, err := http.NewRequest(method, base+path, nil)
		Expect(err).NotTo(HaveOccurred())
		resp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		Expect(err).NotTo(HaveOccurred())
		return resp, string(body)
	}

	It("serves the metrics in the text format, with the process's start time", func() {
		resp, body := get("GET", "/metrics?x=1")
		Expect(resp.StatusCode).To(Equal(200))
		Expect(resp.Header.Get("Content-Type")).To(Equal("text/plain; version=0.0.4; charset=utf-8"))
		Expect(body).To(HavePrefix("# HELP hermes_reconcile_build_info "))
		Expect(body).To(MatchRegexp(`(?m)^process_start_time_seconds \d\.\d+e\+09$`))
		Expect(resp.ContentLength).To(BeNumerically("==", len(body)))
	})

	It("says health: 200 ok, or 503 and why", func() {
		resp, body := get("GET", "/healthz")
		Expect(resp.StatusCode).To(Equal(200))
		Expect(body).To(Equal("ok\n"))
		m.Running(true, time.Now())
		m.Passed(loop.Report{Outcome: reconcile.Outcome{Err: errors.New("lock: held by pid 1")}, Full: true, At: time.Now()})
		resp, body = get("GET", "/healthz")
		Expect(resp.StatusCode).To(Equal(503))
		Expect(body).To(Equal("unhealthy: the single-writer lock is not ours: lock: held by pid 1\n"))
		resp, body = get("HEAD", "/healthz")
		Expect(resp.StatusCode).To(Equal(503))
		Expect(body).To(BeEmpty())
	})

	It("refuses what it does not serve", func() {
		resp, _ := get("GET", "/")
		Expect(resp.StatusCode).To(Equal(404))
		resp, _ = get("POST", "/metrics")
		Expect(resp.StatusCode).To(Equal(405))
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		Expect(err).NotTo(HaveOccurred())
		defer c.Close()
		_, err = c.Write([]byte("hello\r\n\r\n"))
		Expect(err).NotTo(HaveOccurred())
		answer, err := io.ReadAll(c)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(answer)).To(HavePrefix("HTTP/1.1 400 Bad Request\r\n"))
	})

	It("answers others while a client sends nothing, and stops at once all the same", func() {
		idle, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		Expect(err).NotTo(HaveOccurred())
		defer idle.Close()
		resp, _ := get("GET", "/healthz")
		Expect(resp.StatusCode).To(Equal(200))
		stop()
		Eventually(done, 2*time.Second).Should(Receive(BeNil()), "well within the 10 s a request may take")
		done <- nil // for the cleanup
	})
})
