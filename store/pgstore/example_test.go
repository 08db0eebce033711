package pgstore_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/pgstore"
)

// Open a store on a PostgreSQL database (migrating it first), write and
// read in transactions, and learn of other replicas' announcements. It
// needs a database, so it is compiled and not run.
func ExampleOpen() {
	ctx := context.Background()
	st, err := pgstore.Open(ctx, os.Getenv("AGENTID_DATABASE_URL"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	st.Subscribe("status", func(payload string, missed bool) {
		fmt.Println("another replica changed", payload, missed)
	})
	err = st.Update(ctx, func(tx store.Tx) error {
		if a, ok := tx.(store.Announcer); ok {
			a.Announce("status", "revocation https://issuer.example/status/revocation/0")
		}
		return tx.Bucket("example").Put([]byte("k"), []byte("v"))
	})
	if err != nil {
		log.Fatal(err)
	}
	err = st.View(ctx, func(tx store.Tx) error {
		fmt.Printf("%s\n", tx.Bucket("example").Get([]byte("k")))
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
}
