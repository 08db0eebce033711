package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/console"
)

// consoleLink is what `agentid console --json` prints.
type consoleLink struct {
	Link      string    `json:"link"`
	Principal string    `json:"principal"`
	Expires   time.Time `json:"expires"`
}

// consoleCmd prints (and tries to open) a one-time console sign-in link
// signed by the principal's key.
func consoleCmd() *cobra.Command {
	var cn conn
	var noOpen bool
	c := &cobra.Command{
		Use:   "console",
		Short: "Open the web console: print a one-time sign-in link (valid 60 s) signed by your principal key",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			k, err := client.LoadKey(cn.key)
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return hintError{err, []string{"pass --key FILE (the admin key is DATA/admin.jwk after 'agentid init')"}}
				}
				return err
			}
			now := time.Now()
			link, err := console.SignInLink(k.Signer, k.DID, cn.server, now)
			if err != nil {
				return err
			}
			// The link is the only data on stdout; it is a secret for
			// its one minute.
			if cn.json {
				if err := printJSON(c.OutOrStdout(), consoleLink{Link: link, Principal: k.DID,
					Expires: now.Add(console.SignInLifetime).UTC().Truncate(time.Second)}); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(c.OutOrStdout(), link)
			}
			fmt.Fprintln(c.ErrOrStderr(), "agentid: open this link within 60 s; it signs you in once, as "+k.DID)
			if !noOpen {
				if err := openBrowser(link); err != nil {
					fmt.Fprintln(c.ErrOrStderr(), "agentid: could not open a browser ("+err.Error()+"); copy the link")
				}
			}
			return nil
		},
	}
	cn.register(c)
	c.Flags().BoolVar(&noOpen, "no-open", false, "only print the link, do not try to open a browser")
	return c
}

// openBrowser asks the desktop to open url, without waiting for it. The
// link travels as an argument, never through a shell.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return errors.New("no display")
		}
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}
