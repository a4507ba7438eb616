// Package collector hands the domain metrics to a client_golang registry
// (the Kubernetes controller's: controller-runtime's): the same families,
// the same series, as metrics.Handler writes them for the s6 and host
// binary, which links no client_golang.
package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hermes-reconcile/hermes-reconcile/metrics"
)

// Collector is the metrics of one process as a prometheus.Collector.
type Collector struct {
	m     *metrics.Metrics
	descs map[*metrics.Def]*prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// New returns the collector of m.
func New(m *metrics.Metrics) *Collector {
	c := &Collector{m: m, descs: map[*metrics.Def]*prometheus.Desc{}}
	for _, d := range metrics.Defs {
		c.descs[d] = prometheus.NewDesc(d.Name, d.Help, d.Labels, nil)
	}
	return c
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range metrics.Defs {
		ch <- c.descs[d]
	}
}

// Collect sends every series.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, f := range c.m.Gather() {
		desc := c.descs[f.Def]
		for _, s := range f.Samples {
			switch f.Def.Type {
			case metrics.Histogram:
				buckets := make(map[float64]uint64, len(f.Def.Buckets))
				for i, b := range f.Def.Buckets {
					buckets[b] = s.Histogram.Buckets[i]
				}
				ch <- prometheus.MustNewConstHistogram(desc, s.Histogram.Count, s.Histogram.Sum, buckets, s.Labels...)
			case metrics.Counter:
				ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, s.Value, s.Labels...)
			default:
				ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, s.Value, s.Labels...)
			}
		}
	}
}
