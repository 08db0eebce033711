package server

import (
	"github.com/gin-gonic/gin"

	"github.com/agentid/agentid/internal/console"
)

// mountConsole serves the admin console under /console/ on the issuer's
// engine: its actions call the issuer in-process, as the API handlers do.
func (s *Server) mountConsole(r *gin.Engine) error {
	c, err := console.New(console.Config{
		Issuer:   s.app.Issuer,
		DB:       s.app.DB,
		Audit:    s.app.Audit,
		Refusals: s.app.Refusals,
		URL:      s.app.cfg.IssuerURL,
		Now:      s.app.cfg.Now,
		Logger:   s.app.log,
		// Sessions are sealed like the issuer's records.
		RecordsKey: s.app.recordsKey,
	})
	if err != nil {
		return err
	}
	c.Register(r)
	s.console = c
	return nil
}
