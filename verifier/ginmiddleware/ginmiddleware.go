// Package ginmiddleware protects gin routes with agentid presentations; it
// is a thin adapter over package middleware, which holds the logic.
//
//	r.GET("/v1/events", ginmiddleware.Require(mw, "calendar:read"), events)
//	...
//	res, _ := ginmiddleware.Result(c) // res.Agent, res.Scopes, ...
package ginmiddleware

import (
	"github.com/gin-gonic/gin"

	"github.com/agentid/agentid/oauth"
	"github.com/agentid/agentid/verifier"
	"github.com/agentid/agentid/verifier/middleware"
)

const resultKey = "agentid.result"

// Require returns a gin handler that admits only requests carrying a valid
// presentation whose credential grants every one of scopes. The result is
// stored in the gin context and in the request context.
func Require(cfg *middleware.Config, scopes ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		res := cfg.Check(c.Writer, c.Request, scopes)
		if res == nil {
			c.Abort()
			return
		}
		c.Set(resultKey, res)
		c.Request = c.Request.WithContext(middleware.WithResult(c.Request.Context(), res))
		c.Next()
	}
}

// Result returns the verification result stored by Require.
func Result(c *gin.Context) (*verifier.Result, bool) {
	v, ok := c.Get(resultKey)
	if !ok {
		return nil, false
	}
	r, ok := v.(*verifier.Result)
	return r, ok
}

// ProtectedResource serves the API's protected resource metadata (RFC
// 9728): see middleware.ProtectedResource.
func ProtectedResource(md oauth.ProtectedResourceMetadata) gin.HandlerFunc {
	return gin.WrapH(middleware.ProtectedResource(md))
}
