// Command seedagents fills an initialised data directory with agents for
// scale measurements (scripts/inventory-scale.sh): it opens the directory
// as `agentid serve` does (internal/server.Open, the real store, keys and
// audit log) and registers -n agents through issuer.Issue, each with its
// own Ed25519 did:key and proof of control over a fresh issuer nonce, from
// -workers goroutines so that bbolt's batch gathers their commits. Every
// agent is a real one: its record, its credential, its status list
// indexes and its audit event, committed and fsynced as over HTTP, without
// the HTTP round trips.
//
//	go run ./scripts/seedagents -data DIR -issuer-url URL -n 1000000
//
// It is a measurement tool, not part of agentid: the server must not be
// running on the directory (bbolt's lock refuses a second opener).
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/internal/server"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/vc"
)

func main() {
	data := flag.String("data", "", "initialised data directory")
	url := flag.String("issuer-url", "", "the directory's issuer URL")
	n := flag.Int("n", 10000, "agents to register")
	workers := flag.Int("workers", 64, "concurrent registrations")
	flag.Parse()
	if err := run(*data, *url, *n, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "seedagents:", err)
		os.Exit(1)
	}
}

func run(data, url string, n, workers int) error {
	ctx := context.Background()
	app, err := server.Open(ctx, server.Config{DataDir: data, IssuerURL: url,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	defer app.Close()
	adminDID, err := kidDID(filepath.Join(data, server.AdminKeyFile))
	if err != nil {
		return err
	}
	admin, err := app.Issuer.Principal(ctx, adminDID)
	if err != nil {
		return err
	}
	aud := strings.TrimSuffix(url, "/")
	var next, done atomic.Int64
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := issueOne(ctx, app.Issuer, admin, aud); err != nil {
					errc <- err
					return
				}
				if d := done.Add(1); d%50_000 == 0 {
					fmt.Fprintf(os.Stderr, "seedagents: %d agents in %v\n", d, time.Since(start).Round(time.Second))
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seedagents: %d agents in %v (%.0f/s)\n", done.Load(), time.Since(start).Round(time.Second),
		float64(done.Load())/time.Since(start).Seconds())
	return nil
}

func issueOne(ctx context.Context, is *issuer.Issuer, admin *issuer.Principal, aud string) error {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	d, err := did.KeyFromPublic(k.Public())
	if err != nil {
		return err
	}
	s, err := vc.NewKeySigner(k, d+"#"+strings.TrimPrefix(d, "did:key:"))
	if err != nil {
		return err
	}
	jti := make([]byte, 12)
	rand.Read(jti)
	now := time.Now()
	proof, err := vc.SignPresentation(s, &vc.Presentation{Holder: d, Aud: vc.Audience{aud},
		Iat: now.Unix(), Exp: now.Add(time.Minute).Unix(), Jti: hex.EncodeToString(jti),
		Nonce: is.Nonce(), For: admin.DID})
	if err != nil {
		return err
	}
	_, err = is.Issue(ctx, admin, issuer.IssueRequest{
		Agent: d, Proof: proof,
		Scopes: []string{"calendar:read"}, Audiences: []string{"https://calendar.example.com"},
		Owner: "team-scale", Purpose: "inventory scale measurement",
		TTL: time.Hour, Lifetime: 30 * 24 * time.Hour,
	})
	return err
}

// kidDID is the DID of a JWK key file's kid.
func kidDID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var k struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &k); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	id, _, _ := strings.Cut(k.Kid, "#")
	return id, nil
}
