package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier"
)

// Buckets of the console's state in the store.
const (
	// bucketSessions maps hex SHA-256(session id) to a sessionRecord: the
	// id itself, the bearer secret, is never stored.
	bucketSessions = "console.sessions"
	// bucketLinks maps holder NUL jti of each used sign-in link to its
	// expiry (8 bytes, big-endian Unix seconds).
	bucketLinks = "console.links"
)

// sessionRecord is a stored session.
type sessionRecord struct {
	Principal string    `json:"principal"`
	Created   time.Time `json:"created"`
	Seen      time.Time `json:"seen"`
	// CSRF is the session's synchroniser token, sent in every form.
	CSRF string `json:"csrf"`
}

// session is the signed-in request's state.
type session struct {
	key       string // hex SHA-256 of the cookie's id
	rec       sessionRecord
	principal *issuer.Principal
}

func sess(g *gin.Context) *session {
	v, _ := g.Get("console.session")
	return v.(*session)
}

// randomToken returns 256 random bits, base64url. crypto/rand.Read never
// returns an error (since Go 1.24 it crashes the program instead).
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// Refusal codes of sign-in and sessions, shown on the refusal page and
// used by tests.
const (
	codeNoSession      = "no_session"
	codeSessionExpired = "session_expired"
	codeSignInRefused  = "signin_refused"
)

// session loads the request's session, or answers 401. A session ends
// (and is deleted) once idle for IdleTimeout or AbsoluteTimeout after
// sign-in; its principal is read again, so a removed principal's session
// ends too.
func (c *Console) session(g *gin.Context) {
	ck, err := g.Request.Cookie(c.cookieName)
	if err != nil || ck.Value == "" || len(ck.Value) > 64 {
		c.refuse(g, http.StatusUnauthorized, codeNoSession, "You are not signed in. Run 'agentid console --key YOUR.jwk' to get a sign-in link.")
		return
	}
	ctx := g.Request.Context()
	key := hashID(ck.Value)
	now := c.cfg.Now()
	var rec sessionRecord
	var found, expired bool
	// Read first: a page view writes only to end a session or, at most
	// once a minute, to move its last-use time.
	err = c.cfg.DB.View(ctx, func(tx store.Tx) error {
		rec, found = c.getSession(tx.Bucket(bucketSessions), key)
		return nil
	})
	if err == nil && found {
		expired = now.Sub(rec.Seen) >= c.cfg.IdleTimeout || now.Sub(rec.Created) >= c.cfg.AbsoluteTimeout
		switch {
		case expired:
			err = c.dropSession(ctx, key)
		case now.Sub(rec.Seen) >= time.Minute:
			rec.Seen = now
			err = c.cfg.DB.Update(ctx, func(tx store.Tx) error {
				b := tx.Bucket(bucketSessions)
				if b.Get([]byte(key)) == nil {
					// Signed out meanwhile: do not bring it back.
					found = false
					return nil
				}
				return c.putSession(b, key, rec)
			})
		}
	}
	if err != nil {
		c.fail(g, err)
		return
	}
	if !found || expired {
		c.clearCookie(g)
		code, msg := codeNoSession, "This session has ended (signed out). Run 'agentid console' to sign in again."
		if expired {
			code, msg = codeSessionExpired, "This session timed out. Run 'agentid console' to sign in again."
		}
		c.refuse(g, http.StatusUnauthorized, code, msg)
		return
	}
	p, err := c.cfg.Issuer.Principal(ctx, rec.Principal)
	if err != nil {
		if e, ok := issuer.Refusal(err); ok && e.Kind == issuer.KindNotFound {
			_ = c.dropSession(ctx, key)
			c.clearCookie(g)
			c.refuse(g, http.StatusUnauthorized, codeNoSession, "Your principal is no longer registered; the session has ended.")
			return
		}
		c.fail(g, err)
		return
	}
	g.Set("console.session", &session{key: key, rec: rec, principal: p})
	g.Next()
}

func (c *Console) dropSession(ctx context.Context, key string) error {
	return c.cfg.DB.Update(ctx, func(tx store.Tx) error { return tx.Bucket(bucketSessions).Delete([]byte(key)) })
}

func (c *Console) setCookie(g *gin.Context, id string, maxAge int) {
	http.SetCookie(g.Writer, &http.Cookie{Name: c.cookieName, Value: id, Path: "/console/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteStrictMode})
}

func (c *Console) clearCookie(g *gin.Context) { c.setCookie(g, "", -1) }

// signIn checks a sign-in link and opens a session.
func (c *Console) signIn(g *gin.Context) {
	ctx := audit.WithSource(g.Request.Context(), g.ClientIP())
	p, err := c.authenticate(ctx, g.Query("token"))
	if err != nil {
		code := codeSignInRefused
		var ie *issuer.Error
		if errors.As(err, &ie) {
			code = string(ie.Code)
		} else if rc, ok := reason.CodeOf(err); ok {
			code = string(rc)
		} else {
			c.fail(g, err)
			return
		}
		if c.cfg.Refusals != nil {
			ev := &audit.Event{Action: ActionSignIn, Time: c.cfg.Now().UTC(), Decision: audit.DecisionDeny, Reason: code}
			if aerr := c.cfg.Refusals.Count(ctx, ev); aerr != nil {
				c.fail(g, aerr)
				return
			}
		}
		c.refuse(g, http.StatusUnauthorized, code, "This sign-in link is expired, already used, or not signed by a registered principal. Run 'agentid console' for a new one.")
		return
	}
	id := randomToken()
	now := c.cfg.Now()
	rec := sessionRecord{Principal: p.DID, Created: now, Seen: now, CSRF: randomToken()}
	err = c.cfg.DB.Update(ctx, func(tx store.Tx) error {
		b := tx.Bucket(bucketSessions)
		// Ended sessions that were never used again are swept here.
		var stale [][]byte
		if err := b.Range(nil, func(k, v []byte) error {
			var r sessionRecord
			raw, err := c.seal.Open(bucketSessions, k, v)
			if err != nil || json.Unmarshal(raw, &r) != nil || now.Sub(r.Seen) >= c.cfg.IdleTimeout || now.Sub(r.Created) >= c.cfg.AbsoluteTimeout {
				stale = append(stale, append([]byte(nil), k...))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range stale {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return c.putSession(b, hashID(id), rec)
	})
	if err == nil {
		err = c.cfg.Audit.Append(ctx, &audit.Event{Action: ActionSignIn, Actor: p.DID, Decision: audit.DecisionAllow,
			Detail: "console session opened (role " + string(p.Role) + ")", SourceIP: g.ClientIP()})
	}
	if err != nil {
		c.fail(g, err)
		return
	}
	c.setCookie(g, id, int(c.cfg.AbsoluteTimeout/time.Second))
	g.Header("Referrer-Policy", "no-referrer")
	// A page, not a redirect: the Strict cookie is then sent by the
	// same-site navigation it makes, whatever opened the link.
	c.render(g, http.StatusOK, "signedin", nil, nil)
}

// authenticate checks a sign-in link's token: a principal's presentation
// addressed to the console and bound to GET on the sign-in URL, unused.
func (c *Console) authenticate(ctx context.Context, token string) (*issuer.Principal, error) {
	if token == "" {
		return nil, reason.New(reason.Malformed, "console: no sign-in token")
	}
	var pr *issuer.Principal
	_, err := c.signin.AuthenticateHolder(ctx, token, verifier.Request{Method: http.MethodGet, URL: SignInURL(c.cfg.URL)},
		func(ctx context.Context, p *vc.Presentation) error {
			if len(p.VerifiableCredential) != 0 {
				return reason.New(reason.Malformed, "console: a sign-in link carries no credential")
			}
			got, err := c.cfg.Issuer.Principal(ctx, p.HolderDID())
			if err != nil {
				if e, ok := issuer.Refusal(err); ok && e.Kind == issuer.KindNotFound {
					return &issuer.Error{Kind: issuer.KindUnauthenticated, Code: issuer.CodeUnknownPrincipal, Detail: "not a registered principal"}
				}
				return err
			}
			pr = got
			return nil
		})
	if err != nil {
		return nil, err
	}
	return pr, nil
}

// signOut ends the session server-side.
func (c *Console) signOut(g *gin.Context) {
	s := sess(g)
	ctx := g.Request.Context()
	if err := c.dropSession(ctx, s.key); err != nil {
		c.fail(g, err)
		return
	}
	if err := c.cfg.Audit.Append(ctx, &audit.Event{Action: ActionSignOut, Actor: s.principal.DID, Decision: audit.DecisionAllow,
		SourceIP: g.ClientIP()}); err != nil {
		c.fail(g, err)
		return
	}
	c.clearCookie(g)
	g.Redirect(http.StatusSeeOther, "/console/signed-out")
}

func (c *Console) signedOut(g *gin.Context) {
	c.render(g, http.StatusOK, "signedout", nil, nil)
}

// usedLinks is the replay cache of sign-in links: a used link's jti is
// committed to the store (durable before the session opens), so a link
// works once, also across restarts. Expired entries are swept when a new
// one is recorded.
type usedLinks struct{ db store.Store }

func linkKey(holder, jti string) []byte { return []byte(holder + "\x00" + jti) }

func (u *usedLinks) Seen(holder, jti string, now time.Time) bool {
	seen := true // fail closed: a store that cannot be read admits nothing
	_ = u.db.View(context.Background(), func(tx store.Tx) error {
		v := tx.Bucket(bucketLinks).Get(linkKey(holder, jti))
		seen = v != nil && len(v) == 8 && int64(binary.BigEndian.Uint64(v)) >= now.Unix()
		return nil
	})
	return seen
}

func (u *usedLinks) Record(holder, jti string, exp, now time.Time) error {
	return u.db.Update(context.Background(), func(tx store.Tx) error {
		b := tx.Bucket(bucketLinks)
		k := linkKey(holder, jti)
		if v := b.Get(k); v != nil && len(v) == 8 && int64(binary.BigEndian.Uint64(v)) >= now.Unix() {
			return verifier.ErrReplayed
		}
		var stale [][]byte
		if err := b.Range(nil, func(k, v []byte) error {
			if len(v) != 8 || int64(binary.BigEndian.Uint64(v)) < now.Unix() {
				stale = append(stale, append([]byte(nil), k...))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, s := range stale {
			if err := b.Delete(s); err != nil {
				return err
			}
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], uint64(exp.Unix()))
		return b.Put(k, v[:])
	})
}

// getSession reads the session record under key in b. A record whose MAC
// does not check (written without the master key, or edited) is no
// session: it is refused like a missing one, and logged.
func (c *Console) getSession(b store.Bucket, key string) (sessionRecord, bool) {
	var rec sessionRecord
	v := b.Get([]byte(key))
	if v == nil {
		return rec, false
	}
	raw, err := c.seal.Open(bucketSessions, []byte(key), v)
	if err == nil {
		err = json.Unmarshal(raw, &rec)
	}
	if err != nil {
		c.log.Error("console session record refused", "err", err)
		return rec, false
	}
	return rec, true
}

// putSession writes the session record under key in b, sealed.
func (c *Console) putSession(b store.Bucket, key string, rec sessionRecord) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), c.seal.Seal(bucketSessions, []byte(key), v))
}
