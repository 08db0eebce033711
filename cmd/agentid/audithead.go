package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/audit/auditlog"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/issuer"
)

// maxHeadFile bounds a saved head file.
const maxHeadFile = 64 << 10

// readHeadFile reads a saved signed head: the bare token printed by
// 'agentid audit head', or its --json form.
func readHeadFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxHeadFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxHeadFile {
		return "", fmt.Errorf("head file %s is larger than %d bytes", path, maxHeadFile)
	}
	s := strings.TrimSpace(string(b))
	if strings.HasPrefix(s, "{") {
		var sh api.SignedHead
		if err := json.Unmarshal([]byte(s), &sh); err != nil {
			return "", fmt.Errorf("head file %s: %v", path, err)
		}
		s = sh.Token
	}
	return s, nil
}

// verifyAgainstHead checks a log (the exported file, or the server's log
// exported now) against a saved signed head. The head's signature is
// checked with the keys of the issuer DID it names (resolved as did:web).
// Keyed events' MACs need the chain key, which only the server has: they
// are counted as unchecked here (run 'agentid audit verify' without --file
// for them); what the head proves is that the log was neither cut before
// it nor rewritten up to it.
func verifyAgainstHead(c *cobra.Command, cn *conn, file, headFile string) (*audit.VerifyReport, error) {
	tok, err := readHeadFile(headFile)
	if err != nil {
		return nil, err
	}
	web := did.NewWebResolver(did.WebOptions{AllowHTTPLocalhost: true})
	h, err := issuer.VerifyAuditHead(c.Context(), tok, "", did.NewMultiResolver(web))
	if err != nil {
		return nil, err
	}
	opts := audit.ChainOptions{Head: h}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return audit.VerifyLinesWith(f, opts)
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(cn.call(func(cl *client.Client) error {
			return cl.AuditExport(c.Context(), client.AuditFilter{}, pw)
		}))
	}()
	rep, err := audit.VerifyLinesWith(pr, opts)
	pr.CloseWithError(io.ErrClosedPipe)
	return rep, err
}

// verifySegments checks an audit archive directory offline, and after it
// the export in file when given, as one chain: each segment's signed head
// (checked with the keys of the issuer DID it names, resolved as did:web),
// the links between segments, and the pruned head the archive resumes
// from. MACs need the chain key and are counted as unchecked.
func verifySegments(c *cobra.Command, dir, file string) (*audit.VerifyReport, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, usagef("--segments must be a directory")
	}
	var tail io.Reader
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		tail = f
	}
	web := did.NewWebResolver(did.WebOptions{AllowHTTPLocalhost: true})
	keys := did.NewMultiResolver(web)
	return auditlog.VerifyArchive(c.Context(), dir, tail, nil, func(ctx context.Context, tok string) (*audit.Head, error) {
		return issuer.VerifyAuditHead(ctx, tok, "", keys)
	})
}
