package verifier

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/vc"
)

// TrustConfig says which issuers a verifier built by [ForIssuers] trusts and
// how it reaches them. Only Issuers is required; the zero value of every
// other field gives the production defaults.
type TrustConfig struct {
	// Issuers are the DIDs of the trusted issuers (at least one).
	Issuers []string
	// AllowHTTPLocalhost lets the default resolver fetch the documents of
	// did:web:localhost (any port), and the default status checker the
	// lists of http://localhost, over plain http. For development only;
	// without it, did:web and status lists are fetched over https only.
	AllowHTTPLocalhost bool
	// HTTPClient fetches DID documents and status lists for the defaults.
	// Nil means each uses its own client with a 5 s timeout and bounded
	// redirects (see did.WebOptions and statuslist.CheckerOptions).
	HTTPClient *http.Client
	// Keys, when set, replaces the default key resolver,
	// did.NewMultiResolver(did.NewWebResolver(...)): did:key and did:jwk
	// locally, did:web over HTTPS. The default status checker uses it too,
	// to check the signatures of status lists.
	Keys vc.KeyResolver
	// Status, when set, replaces the default status checker, a
	// statuslist.Checker.
	Status StatusChecker
	// StatusEvents are issuers' change feeds (GET /v1/status/events) that
	// the status checker follows until the context given to [ForIssuers]
	// ends, so that a revocation is seen at once rather than within the
	// list's ttl. With Status set, Status must have statuslist.Checker's
	// Subscribe method.
	StatusEvents []string
}

// subscriber is the part of statuslist.Checker that follows change feeds.
type subscriber interface {
	Subscribe(ctx context.Context, eventsURL string) error
}

// ForIssuers returns a Verifier that trusts the issuers of cfg, resolving
// their keys and reading their status lists as cfg says. It is [New] with
// [WithKeyResolver], [WithTrustedIssuers] and [WithStatusChecker] filled
// in; opts add the rest ([WithAudience], [WithAudit], [WithClock], ...).
//
// ctx bounds the subscriptions to cfg.StatusEvents, which run in the
// background until it ends; ForIssuers itself does no I/O.
//
//	v, err := verifier.ForIssuers(ctx, verifier.TrustConfig{
//		Issuers:      []string{"did:web:issuer.example.com"},
//		StatusEvents: []string{"https://issuer.example.com/v1/status/events"},
//	}, verifier.WithAudience("https://calendar.example.com"))
func ForIssuers(ctx context.Context, cfg TrustConfig, opts ...Option) (*Verifier, error) {
	if len(cfg.Issuers) == 0 {
		return nil, errors.New("verifier: at least one trusted issuer is required")
	}
	keys := cfg.Keys
	if keys == nil {
		keys = did.NewMultiResolver(did.NewWebResolver(did.WebOptions{Client: cfg.HTTPClient, AllowHTTPLocalhost: cfg.AllowHTTPLocalhost}))
	}
	status := cfg.Status
	if status == nil {
		allowHTTP := statuslist.LocalhostOnly
		if !cfg.AllowHTTPLocalhost {
			allowHTTP = func(*url.URL) bool { return false }
		}
		c, err := statuslist.NewChecker(statuslist.CheckerOptions{Client: cfg.HTTPClient, Keys: keys, AllowHTTP: allowHTTP})
		if err != nil {
			return nil, fmt.Errorf("verifier: %w", err)
		}
		status = c
	}
	all := append([]Option{WithKeyResolver(keys), WithTrustedIssuers(cfg.Issuers...), WithStatusChecker(status)}, opts...)
	v, err := New(all...)
	if err != nil {
		return nil, err
	}
	if len(cfg.StatusEvents) > 0 {
		sub, ok := status.(subscriber)
		if !ok {
			return nil, fmt.Errorf("verifier: status checker %T cannot follow change feeds", status)
		}
		// On a bad URL, stop the feeds already followed.
		sctx, cancel := context.WithCancel(ctx)
		for _, u := range cfg.StatusEvents {
			if err := sub.Subscribe(sctx, u); err != nil {
				cancel()
				return nil, fmt.Errorf("verifier: %w", err)
			}
		}
		context.AfterFunc(ctx, cancel) // the feeds live as long as ctx
	}
	return v, nil
}
