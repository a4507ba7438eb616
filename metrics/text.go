package metrics

import (
	"bufio"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Family is one metric's series at a moment.
type Family struct {
	Def     *Def
	Samples []Sample
}

// Sample is one series: its label values (in Def.Labels' order) and its
// value, or for a histogram its buckets.
type Sample struct {
	Labels    []string
	Value     float64
	Histogram *HistogramValue
}

// HistogramValue is a histogram's state: the cumulative count at each of
// its Def's bucket bounds, then the total count and sum.
type HistogramValue struct {
	Buckets []uint64
	Count   uint64
	Sum     float64
}

type histogram struct {
	bounds []float64
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v) // the first bound >= v
	h.counts[i]++
	h.sum += v
}

func (h *histogram) value() *HistogramValue {
	hv := &HistogramValue{Buckets: make([]uint64, len(h.bounds)), Sum: h.sum}
	var n uint64
	for i, c := range h.counts {
		n += c
		if i < len(h.bounds) {
			hv.Buckets[i] = n
		}
	}
	hv.Count = n
	return hv
}

// pair is a label and its value.
type pair struct{ name, value string }

// pairs are a sample's labels sorted by name, as the text format and
// client_golang write them.
func pairs(d *Def, values []string) []pair {
	ps := make([]pair, len(values))
	for i, v := range values {
		ps[i] = pair{d.Labels[i], v}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].name < ps[j].name })
	return ps
}

// less orders two samples of d as a registry does: by their label values,
// the labels taken in name order.
func less(d *Def, a, b []string) bool {
	pa, pb := pairs(d, a), pairs(d, b)
	for i := range pa {
		if pa[i].value != pb[i].value {
			return pa[i].value < pb[i].value
		}
	}
	return false
}

// ContentType is the text exposition format's.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// WriteText writes families in Prometheus's text exposition format
// (version 0.0.4), as client_golang's expfmt writes them: a family with no
// series (no gateway that should run) is left out, as a registry leaves it.
func WriteText(w io.Writer, fams []Family) error {
	b := bufio.NewWriter(w)
	for _, f := range fams {
		d := f.Def
		if len(f.Samples) == 0 {
			continue
		}
		b.WriteString("# HELP " + d.Name + " " + helpEscaper.Replace(d.Help) + "\n")
		b.WriteString("# TYPE " + d.Name + " " + d.Type.String() + "\n")
		for _, s := range f.Samples {
			ps := pairs(d, s.Labels)
			if s.Histogram == nil {
				line(b, d.Name, ps, s.Value)
				continue
			}
			for i, bound := range d.Buckets {
				line(b, d.Name+"_bucket", append(ps[:len(ps):len(ps)], pair{"le", float(bound)}), float64(s.Histogram.Buckets[i]))
			}
			line(b, d.Name+"_bucket", append(ps[:len(ps):len(ps)], pair{"le", "+Inf"}), float64(s.Histogram.Count))
			line(b, d.Name+"_sum", ps, s.Histogram.Sum)
			line(b, d.Name+"_count", ps, float64(s.Histogram.Count))
		}
	}
	return b.Flush()
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func line(b *bufio.Writer, name string, ps []pair, v float64) {
	b.WriteString(name)
	if len(ps) > 0 {
		b.WriteByte('{')
		for i, p := range ps {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(p.name + `="` + labelEscaper.Replace(p.value) + `"`)
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(float(v))
	b.WriteByte('\n')
}

// float is a value as the text format writes it.
func float(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
