// Command resource-api is a small calendar API, written with gin, that
// accepts only AI agents presenting an agentid credential. It embeds the
// verifier library: every request must carry "Authorization: VP <vp+jwt>"
// signed by the agent, addressed to this API (aud = --audience), bound to
// the request's method and URL, and enveloping a credential of the trusted
// issuer that grants the route's scope:
//
//	GET    /v1/events      calendar:read
//	POST   /v1/events      calendar:write
//	DELETE /v1/events/:id  calendar:admin
//
// The issuer's did:web document is fetched over plain http for localhost
// (development only), status lists are checked on every request, and the
// checker follows the issuer's change feed (GET /v1/status/events), so a
// revocation is seen at once rather than after the list's ttl. One audit
// event per decision is written to stderr as a JSON line.
//
//	go run ./examples/resource-api
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/verifier"
	"github.com/agentid/agentid/verifier/ginmiddleware"
	"github.com/agentid/agentid/verifier/middleware"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9090", "listen address")
	aud := flag.String("audience", "http://localhost:9090", "this API's external URL: the audience presentations must name, and the base of htu")
	issuerDID := flag.String("issuer", "did:web:localhost%3A8080", "trusted issuer DID")
	events := flag.String("status-events", "http://localhost:8080/v1/status/events", "the issuer's status change feed (empty: rely on the lists' ttl)")
	allowHTTP := flag.Bool("allow-http-localhost", true, "resolve did:web:localhost over plain http (development)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "resource-api: bad usage: no arguments expected")
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*addr, *aud, *issuerDID, *events, *allowHTTP); err != nil {
		fmt.Fprintf(os.Stderr, "resource-api: error: %v\n", err)
		os.Exit(1)
	}
}

func run(addr, aud, issuerDID, events string, allowHTTP bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// did:key (agents) is resolved locally, did:web (the issuer) over
	// HTTP; status lists are checked on every request, and the checker
	// follows the issuer's change feed until ctx ends.
	trust := verifier.TrustConfig{Issuers: []string{issuerDID}, AllowHTTPLocalhost: allowHTTP}
	if events != "" {
		trust.StatusEvents = []string{events}
	}
	v, err := verifier.ForIssuers(ctx, trust,
		verifier.WithAudience(aud),
		verifier.WithAudit(audit.JSONLines(os.Stderr)),
	)
	if err != nil {
		return err
	}
	mw := &middleware.Config{Verifier: v, BaseURL: aud}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Logger(), gin.Recovery()) // request log on stdout; stderr is the audit trail
	cal := newCalendar()
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/v1/events", ginmiddleware.Require(mw, "calendar:read"), cal.list)
	r.POST("/v1/events", ginmiddleware.Require(mw, "calendar:write"), cal.create)
	r.DELETE("/v1/events/:id", ginmiddleware.Require(mw, "calendar:admin"), cal.remove)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("resource-api: listening on http://%s, audience %s, trusting %s\n", ln.Addr(), aud, issuerDID)
	if events != "" {
		fmt.Printf("resource-api: following status changes at %s\n", events)
	}
	hs := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// Event is a calendar entry.
type Event struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Start     string    `json:"start,omitempty"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
}

// calendar is an in-memory store of events.
type calendar struct {
	mu     sync.Mutex
	next   int
	events map[string]Event
}

func newCalendar() *calendar {
	return &calendar{next: 2, events: map[string]Event{
		"1": {ID: "1", Title: "Team sync", Start: "2026-11-23T09:00:00Z", CreatedBy: "seed", CreatedAt: time.Now().UTC().Truncate(time.Second)},
	}}
}

// agent returns the DID the middleware verified.
func agent(c *gin.Context) string {
	res, ok := ginmiddleware.Result(c)
	if !ok {
		return ""
	}
	return res.Agent
}

func (cal *calendar) list(c *gin.Context) {
	cal.mu.Lock()
	out := make([]Event, 0, len(cal.events))
	for _, e := range cal.events {
		out = append(out, e)
	}
	cal.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	c.JSON(http.StatusOK, gin.H{"agent": agent(c), "events": out})
}

func (cal *calendar) create(c *gin.Context) {
	var in struct {
		Title string `json:"title"`
		Start string `json:"start"`
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 16<<10)
	if err := c.ShouldBindJSON(&in); err != nil || in.Title == "" {
		c.JSON(http.StatusBadRequest, gin.H{"agent": agent(c), "error": `body must be {"title": "...", "start": "..."}`})
		return
	}
	cal.mu.Lock()
	e := Event{ID: strconv.Itoa(cal.next), Title: in.Title, Start: in.Start, CreatedBy: agent(c), CreatedAt: time.Now().UTC().Truncate(time.Second)}
	cal.next++
	cal.events[e.ID] = e
	cal.mu.Unlock()
	c.JSON(http.StatusCreated, gin.H{"agent": agent(c), "event": e})
}

func (cal *calendar) remove(c *gin.Context) {
	id := c.Param("id")
	cal.mu.Lock()
	_, ok := cal.events[id]
	delete(cal.events, id)
	cal.mu.Unlock()
	if !ok {
		c.JSON(http.StatusNotFound, gin.H{"agent": agent(c), "error": "no such event"})
		return
	}
	c.JSON(http.StatusOK, gin.H{"agent": agent(c), "deleted": id})
}
