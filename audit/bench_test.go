package audit

import (
	"io"
	"testing"
)

func benchEvent() *Event {
	return &Event{Action: ActionVerify, Subject: "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
		Credential: "urn:uuid:5b1d3f3c-7f53-4b8e-8a53-2b2c8f6f9d1e", Resource: "https://calendar.example.com",
		Scopes: []string{"calendar:read"}, Decision: DecisionAllow, SourceIP: "10.0.0.7", RequestID: "req-123"}
}

// benchSink records b.N events from GOMAXPROCS × par goroutines and
// reports events/s.
func benchSink(b *testing.B, s Sink, par int) {
	b.SetParallelism(par)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Record(b.Context(), benchEvent()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkDiscard(b *testing.B) { benchSink(b, Discard, 32) }

func BenchmarkJSONLines(b *testing.B) { benchSink(b, JSONLines(io.Discard), 32) }
