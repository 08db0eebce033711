package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the Prometheus series of one server, in their own registry
// (no global state).
type metrics struct {
	reg          *prometheus.Registry
	issued       *prometheus.CounterVec
	verified     *prometheus.CounterVec
	verifyTime   prometheus.Histogram
	httpTime     *prometheus.HistogramVec
	auditFailure prometheus.Counter
	statusServed *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentid_issuer_operations_total",
			Help: "Issuer operations by operation and result (allow, or the refusal code).",
		}, []string{"operation", "result"}),
		verified: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentid_verifications_total",
			Help: "Verifications by result (valid/invalid) and reason code.",
		}, []string{"result", "reason"}),
		verifyTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "agentid_verification_duration_seconds",
			Help:    "Time to verify one presentation.",
			Buckets: []float64{.00005, .0001, .0002, .0005, .001, .002, .005, .01, .05, .25},
		}),
		httpTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "agentid_http_request_duration_seconds",
			Help:    "HTTP request latency by route, method and status.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method", "status"}),
		auditFailure: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentid_audit_write_failures_total",
			Help: "Operations refused because their audit event could not be written.",
		}),
		statusServed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentid_status_list_requests_total",
			Help: "Status list fetches served, by HTTP status (200 fetch, 304 cache revalidation).",
		}, []string{"status"}),
	}
	m.reg.MustRegister(m.issued, m.verified, m.verifyTime, m.httpTime, m.auditFailure, m.statusServed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
