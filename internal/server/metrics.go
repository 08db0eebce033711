package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/agentid/agentid/statuslist"
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
	statusChecks *prometheus.CounterVec
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
		statusChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentid_status_checks_total",
			Help: "Verifier-side status list lookups of other issuers' lists, by event: hit (answered from the cache), fetch (list fetched or revalidated), fetch_error (fetch failed or list refused).",
		}, []string{"event"}),
	}
	for _, ev := range []string{statuslist.ObserveHit, statuslist.ObserveFetch, statuslist.ObserveFetchError} {
		m.statusChecks.WithLabelValues(ev) // export zeros before the first event
	}
	m.reg.MustRegister(m.issued, m.verified, m.verifyTime, m.httpTime, m.auditFailure, m.statusServed, m.statusChecks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// statusObserver returns the statuslist.CheckerOptions.Observe hook that
// counts into agentid_status_checks_total. Events other than the
// documented three are counted as "other", so that the label stays
// bounded.
func (m *metrics) statusObserver() func(event string) {
	hit := m.statusChecks.WithLabelValues(statuslist.ObserveHit)
	fetch := m.statusChecks.WithLabelValues(statuslist.ObserveFetch)
	fetchErr := m.statusChecks.WithLabelValues(statuslist.ObserveFetchError)
	return func(event string) {
		switch event {
		case statuslist.ObserveHit:
			hit.Inc()
		case statuslist.ObserveFetch:
			fetch.Inc()
		case statuslist.ObserveFetchError:
			fetchErr.Inc()
		default:
			m.statusChecks.WithLabelValues("other").Inc()
		}
	}
}
