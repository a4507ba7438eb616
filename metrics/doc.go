// Package metrics is the reconciler's domain metrics and health, one set
// for every engine: the loop reports each pass (loop.Recorder) and the
// metrics are counted from what the pass saw, decided and did
// (reconcile.Outcome: the executor's results), never by an engine.
//
// It knows no exposition library: Gather returns plain families, which
// WriteText writes in Prometheus's text format and Serve answers scrapes
// with (the s6 and host binary, which links no client_golang), and which
// metrics/collector hands to a client_golang registry (the Kubernetes
// controller's, controller-runtime's). Health (Healthy, Ready) is judged
// from the same record of the passes.
// Every series with a closed set of labels exists from the start, at zero.
package metrics
