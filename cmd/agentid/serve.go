package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/net/netutil"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/internal/server"
	"github.com/agentid/agentid/keystore"
)

type serveFlags struct {
	data, addr, issuerURL, keyAlg string
	storeURL                      string
	allowHTTP, allowTampered      bool
	maxConns                      int
	defaultTTL, maxTTL, statusTTL time.Duration
	auditSync                     time.Duration
	segBytes                      int64
	segAge, keepFor               time.Duration
	keepSegments                  int
	trusted                       []string
	// The OAuth face (docs/oauth.md).
	bearerResources []string
	dpopNonce       bool
}

func (f *serveFlags) register(c *cobra.Command, withAddr bool) {
	c.Flags().StringVar(&f.data, "data", "data", "data directory (created on first start)")
	c.Flags().StringVar(&f.storeURL, "store", "", "PostgreSQL URL (postgres://…) of a database several replicas share, instead of the bbolt file in --data (default $"+envDatabaseURL+")")
	c.Flags().StringVar(&f.issuerURL, "issuer-url", "http://localhost:8080", "public base URL of the issuer; its did:web DID derives from it")
	c.Flags().StringVar(&f.keyAlg, "key-type", "ed25519", "issuer key type at initialisation: ed25519 or p256")
	c.Flags().DurationVar(&f.defaultTTL, "default-ttl", 15*time.Minute, "credential lifetime when none is asked")
	c.Flags().DurationVar(&f.maxTTL, "max-ttl", time.Hour, "longest credential lifetime")
	if withAddr {
		c.Flags().StringVar(&f.addr, "addr", "127.0.0.1:8080", "listen address")
		c.Flags().DurationVar(&f.statusTTL, "status-ttl", 5*time.Minute, "status list ttl (verifier cache bound)")
		c.Flags().BoolVar(&f.allowHTTP, "allow-http-localhost", true, "resolve did:web:localhost over plain http (development; only with an http://localhost issuer URL)")
		c.Flags().StringSliceVar(&f.trusted, "trust", nil, "further issuer DIDs the verifier service accepts")
		c.Flags().StringSliceVar(&f.bearerResources, "oauth-bearer-resource", nil, "resources for which the token endpoint issues 60 s bearer tokens to clients without DPoP (docs/oauth.md)")
		c.Flags().BoolVar(&f.dpopNonce, "oauth-dpop-nonce", false, "require DPoP server nonces at the token endpoint (RFC 9449 section 8)")
		c.Flags().IntVar(&f.maxConns, "max-conns", defaultMaxConns, "most concurrent client connections; further ones wait in the listen backlog")
		c.Flags().DurationVar(&f.auditSync, "audit-sync-interval", 0, "longest wait before an acknowledged verification decision is fdatasynced (default 2ms; a power cut loses at most this window plus two fdatasyncs)")
		c.Flags().Int64Var(&f.segBytes, "audit-segment-size", 0, "seal the audit log into a signed segment file (DATA/audit-segments) once it holds this many bytes (default 256 MiB)")
		c.Flags().DurationVar(&f.segAge, "audit-segment-age", 0, "seal the audit log once its first event is this old (default 24h)")
		c.Flags().IntVar(&f.keepSegments, "audit-keep-segments", 0, "keep at most this many sealed audit segments; older ones are pruned, their signed head kept (0: keep all)")
		c.Flags().DurationVar(&f.keepFor, "audit-keep-for", 0, "prune sealed audit segments sealed longer ago than this, such as 2160h (0: keep all)")
		c.Flags().BoolVar(&f.allowTampered, "allow-integrity-failure", false, "start even if the audit chain or a record MAC does not verify (not ready; to investigate)")
	}
}

func (f *serveFlags) config(log *slog.Logger) (server.Config, error) {
	alg := keystore.Ed25519
	switch f.keyAlg {
	case "ed25519":
	case "p256":
		alg = keystore.ES256
	default:
		return server.Config{}, usagef("--key-type must be ed25519 or p256")
	}
	u, err := url.Parse(f.issuerURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return server.Config{}, usagef("--issuer-url must be an http(s) URL with a host, such as https://issuer.example.com")
	}
	if u.Scheme == "http" && u.Hostname() != "localhost" {
		return server.Config{}, hintError{usagef("--issuer-url may use plain http only for localhost"), []string{"serve https behind a TLS-terminating proxy and pass its https URL"}}
	}
	// Plain http to other localhost issuers follows the issuer's own
	// scheme: an https issuer never speaks plain http, whatever the flag.
	allowHTTP := f.allowHTTP && u.Scheme == "http"
	storeURL, err := storeURLOf(f.storeURL)
	if err != nil {
		return server.Config{}, err
	}
	return server.Config{DataDir: f.data, StoreURL: storeURL, IssuerURL: f.issuerURL, KeyAlg: alg, DefaultTTL: f.defaultTTL, MaxTTL: f.maxTTL,
		StatusTTL: f.statusTTL, AllowHTTPLocalhost: allowHTTP, TrustedIssuers: f.trusted, Logger: log,
		OAuthBearerResources: f.bearerResources, OAuthDPoPNonce: f.dpopNonce,
		AllowIntegrityFailure: f.allowTampered, AuditSyncInterval: f.auditSync,
		AuditSegmentBytes: f.segBytes, AuditSegmentAge: f.segAge, AuditKeepSegments: f.keepSegments, AuditKeepFor: f.keepFor}, nil
}

func announce(c *cobra.Command, app *server.App, data string) {
	fmt.Fprintf(c.ErrOrStderr(), "agentid: issuer %s\n", app.Issuer.DID())
	if app.AdminDID != "" {
		fmt.Fprintf(c.ErrOrStderr(), "agentid: first admin %s (private key in %s)\n", app.AdminDID, filepath.Join(data, server.AdminKeyFile))
		fmt.Fprintln(c.OutOrStdout(), app.AdminDID)
	}
}

// openError adds the operator's way forward to a refusal of server.Open.
func openError(err error) error {
	var u *server.IssuerURLError
	if errors.As(err, &u) {
		change := "'agentid init --data DIR --change-issuer-url " + u.Given + "'"
		if u.Database {
			change = "'agentid init --store postgres://… --change-issuer-url " + u.Given + "' with every replica stopped"
		}
		return hintError{err, []string{
			"start it with --issuer-url " + u.Stored + ", or change the URL with " + change,
			"credentials issued under the old URL name the old issuer DID and will no longer be trusted after a change",
		}}
	}
	return err
}

// changeIssuerURL is `agentid init --change-issuer-url`.
func changeIssuerURL(c *cobra.Command, data, storeFlag, newURL string) error {
	f := serveFlags{issuerURL: newURL, keyAlg: "ed25519", storeURL: storeFlag}
	cfg, err := f.config(nil)
	if err != nil {
		return err
	}
	var old string
	if cfg.StoreURL != "" {
		data = "the database"
		old, err = server.ChangeIssuerURLStore(c.Context(), cfg.StoreURL, newURL)
	} else {
		old, err = server.ChangeIssuerURL(c.Context(), data, newURL)
	}
	if err != nil {
		return err
	}
	oldDID, _ := did.WebDID(strings.TrimSuffix(old, "/"))
	newDID, _ := did.WebDID(strings.TrimSuffix(newURL, "/"))
	fmt.Fprintf(c.ErrOrStderr(), "agentid: issuer URL of %s changed from %s to %s\n", data, old, strings.TrimSuffix(newURL, "/"))
	fmt.Fprintf(c.ErrOrStderr(), "agentid: warning: the issuer is now %s; credentials and status lists issued as %s name the old DID and verifiers that trust only the new one refuse them (untrusted_issuer): issue new credentials\n", newDID, oldDID)
	return nil
}

func initCmd() *cobra.Command {
	var f serveFlags
	var changeURL string
	c := &cobra.Command{
		Use:   "init",
		Short: "Initialise a data directory: master key, issuer key, first admin",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if changeURL != "" {
				return changeIssuerURL(c, f.data, f.storeURL, changeURL)
			}
			cfg, err := f.config(slog.New(slog.DiscardHandler))
			if err != nil {
				return err
			}
			app, err := server.Open(c.Context(), cfg)
			if err != nil {
				return openError(err)
			}
			defer app.Close()
			if app.AdminDID == "" {
				fmt.Fprintf(c.ErrOrStderr(), "agentid: %s is already initialised\n", f.data)
			}
			announce(c, app, f.data)
			return nil
		},
	}
	f.register(c, false)
	c.Flags().StringVar(&changeURL, "change-issuer-url", "", "change the issuer URL recorded in an initialised data directory (the issuer DID changes with it)")
	c.MarkFlagsMutuallyExclusive("change-issuer-url", "issuer-url")
	return c
}

func serveCmd() *cobra.Command {
	var f serveFlags
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the issuer, status lists and verifier service",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if f.maxConns < 1 {
				return usagef("--max-conns must be at least 1")
			}
			log := slog.New(slog.NewJSONHandler(c.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			tuning, restore := server.TuneRuntime()
			defer restore()
			log.Info("runtime", "cores", tuning.Cores, "gomaxprocs", tuning.Procs, "gcPercent", tuning.GCPercent)
			cfg, err := f.config(log)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// The port first: a serve that cannot listen creates nothing.
			ln, err := net.Listen("tcp", f.addr)
			if err != nil {
				return err
			}
			defer ln.Close()
			ln = netutil.LimitListener(ln, f.maxConns)
			app, err := server.Open(ctx, cfg)
			if err != nil {
				return openError(err)
			}
			defer app.Close()
			srv, err := server.NewServer(app, server.ServerOptions{})
			if err != nil {
				return err
			}
			announce(c, app, f.data)
			fmt.Fprintf(c.ErrOrStderr(), "agentid: listening on http://%s\n", ln.Addr())
			hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
				IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			return shutdown(hs, app)
		},
	}
	f.register(c, true)
	return c
}

// defaultMaxConns is --max-conns: far above what the issuer needs, low
// enough that a flood of idle connections cannot exhaust file descriptors
// or memory.
const defaultMaxConns = 4096

// shutdown stops serving: it ends the status change streams first, each
// with a final shutdown event (they never end by themselves, so that
// Shutdown would wait for them until its deadline and then cut them),
// then lets the requests in flight finish, for at most 10 seconds.
func shutdown(hs *http.Server, app *server.App) error {
	app.Feed.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
