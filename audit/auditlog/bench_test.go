package auditlog

import (
	"errors"
	"fmt"
	"testing"

	"github.com/agentid/agentid/store"

	"github.com/agentid/agentid/audit"
)

func benchEvent() *audit.Event {
	return &audit.Event{Action: audit.ActionVerify, Subject: "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
		Credential: "urn:uuid:5b1d3f3c-7f53-4b8e-8a53-2b2c8f6f9d1e", Resource: "https://calendar.example.com",
		Scopes: []string{"calendar:read"}, Decision: audit.DecisionAllow, SourceIP: "10.0.0.7", RequestID: "req-123"}
}

// benchSink records b.N events from GOMAXPROCS × par goroutines and
// reports events/s.
func benchSink(b *testing.B, s audit.Sink, par int) {
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

// BenchmarkAppend measures durable appends (fsync on every commit) through
// db.Batch with concurrent callers, as in the verifier service. Throughput
// grows with the number of callers waiting, since each commit carries
// every event queued during the database's MaxBatchDelay.
func BenchmarkAppend(b *testing.B) {
	for _, par := range []int{32, 256} {
		b.Run(fmt.Sprintf("callers=%dxP", par), func(b *testing.B) {
			l, err := Open(openDB(b, false), nil)
			if err != nil {
				b.Fatal(err)
			}
			benchSink(b, l, par)
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	l, _ := newLog(b)
	seed(b, l, 10000)
	b.ResetTimer()
	for b.Loop() {
		if _, err := l.Verify(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*10000/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendTx measures what an issuer operation pays for its audit
// event inside its own transaction (encoding, hashing, the chain head and
// the B+tree insert), without the commit: 64 events a transaction, as in
// a batch of issuances, rolled back.
func BenchmarkAppendTx(b *testing.B) {
	l, db := newLog(b)
	b.ReportAllocs()
	const lot = 64
	errRollback := errors.New("roll back")
	for i := 0; i < b.N; i += lot {
		err := db.Update(b.Context(), func(tx store.Tx) error {
			for range min(lot, b.N-i) {
				if err := l.AppendTx(tx, benchEvent()); err != nil {
					return err
				}
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			b.Fatal(err)
		}
	}
}
