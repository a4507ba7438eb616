package metrics

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// processStart is when this process started, near enough (package
// initialisation): process_start_time_seconds beside the domain metrics,
// as client_golang's process collector names it.
var processStart = time.Now()

var defProcessStart = &Def{Name: "process_start_time_seconds", Type: Gauge,
	Help: "Start time of the process since unix epoch in seconds."}

// Serving bounds: a scrape or a probe is one small request.
const (
	// requestTimeout bounds reading a request and writing its answer.
	requestTimeout = 10 * time.Second
	// maxHeader is the most a request's line and headers may hold.
	maxHeader = 16 << 10
	// maxConns is how many connections are answered at once; the others
	// wait in the listen queue.
	maxConns = 8
)

// Serve answers on l until ctx ends, then closes l and waits for the
// requests in flight: GET (or HEAD) /metrics, the domain metrics and
// process_start_time_seconds in the text format, and /healthz, 200 "ok" or
// 503 and why (Healthy). It is the s6 and host binary's endpoint, and
// speaks just enough HTTP/1.1 for a scraper or a probe (one request per
// connection): net/http's server, with its TLS and HTTP/2, would add a
// sixth to the binary. The controller's endpoints are controller-runtime's.
func Serve(ctx context.Context, l net.Listener, m *Metrics) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	// At the end the listener and every connection still open are closed:
	// a client that sends nothing holds no shutdown.
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	stop := context.AfterFunc(ctx, func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for c := range open {
			_ = c.Close()
		}
	})
	defer stop()
	slots := make(chan struct{}, maxConns)
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			_ = c.Close()
			return nil
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			_ = c.Close()
			return nil
		}
		open[c] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			answer(c, m)
			mu.Lock()
			delete(open, c)
			mu.Unlock()
		}()
	}
}

// answer reads one request from c and answers it, then closes c.
func answer(c net.Conn, m *Metrics) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(requestTimeout))
	method, path, err := readRequest(bufio.NewReader(io.LimitReader(c, maxHeader)))
	if err != nil {
		respond(c, "400 Bad Request", "text/plain; charset=utf-8", []byte(err.Error()+"\n"), false)
		return
	}
	head := method == "HEAD"
	if method != "GET" && !head {
		respond(c, "405 Method Not Allowed", "text/plain; charset=utf-8", []byte("GET or HEAD only\n"), false)
		return
	}
	switch path {
	case "/metrics":
		var b bytes.Buffer
		fams := append(m.Gather(), Family{Def: defProcessStart, Samples: []Sample{{Value: float64(processStart.UnixNano()) / 1e9}}})
		_ = WriteText(&b, fams)
		respond(c, "200 OK", ContentType, b.Bytes(), head)
	case "/healthz":
		if err := m.Healthy(); err != nil {
			respond(c, "503 Service Unavailable", "text/plain; charset=utf-8", []byte("unhealthy: "+err.Error()+"\n"), head)
			return
		}
		respond(c, "200 OK", "text/plain; charset=utf-8", []byte("ok\n"), head)
	default:
		respond(c, "404 Not Found", "text/plain; charset=utf-8", []byte("/metrics or /healthz\n"), head)
	}
}

// readRequest reads a request's line and headers and returns its method and
// path (without a query). A body is never read: GET and HEAD have none.
func readRequest(r *bufio.Reader) (method, path string, err error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", "", fmt.Errorf("no request line: %w", err)
	}
	f := strings.Fields(line)
	if len(f) != 3 || !strings.HasPrefix(f[2], "HTTP/1.") {
		return "", "", errors.New("malformed request line")
	}
	for {
		h, err := r.ReadString('\n')
		if err != nil {
			return "", "", fmt.Errorf("headers: %w", err)
		}
		if strings.TrimRight(h, "\r\n") == "" {
			break
		}
	}
	path, _, _ = strings.Cut(f[1], "?")
	return f[0], path, nil
}

func respond(w io.Writer, status, contentType string, body []byte, head bool) {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", status, contentType, len(body))
	if !head {
		b.Write(body)
	}
	_ = b.Flush()
}
