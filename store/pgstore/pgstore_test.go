package pgstore_test

import (
	"context"
	"testing"

	"github.com/agentid/agentid/internal/pgtest"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/pgstore"
	"github.com/agentid/agentid/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestConformance(t *testing.T) {
	dsns := map[store.Store]string{}
	open := func(t *testing.T, dsn string) store.Store {
		t.Helper()
		st, err := pgstore.Open(context.Background(), dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		dsns[st] = dsn
		return st
	}
	storetest.RunOptions(t, storetest.Options{
		Open: func(t *testing.T) store.Store {
			return open(t, pgtest.New(t))
		},
		Reopen: func(t *testing.T, closed store.Store) store.Store {
			return open(t, dsns[closed])
		},
	})
}
