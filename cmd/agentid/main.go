// Command agentid issues and verifies identities and credentials for AI
// agents: `agentid serve` runs the issuer, status lists and verifier
// service; the other commands are its clients and offline tools.
//
// Exit status: 0 on success, 1 when an operation is denied or fails, 2 on
// bad usage. On Linux `serve` runs the server in a child process so that
// a crash (Go exits 2 on a panic in any goroutine) exits 1 (supervise).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// usageError marks bad command-line usage (exit 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// hintError carries hint lines printed after the error.
type hintError struct {
	err   error
	hints []string
}

func (h hintError) Error() string { return h.err.Error() }
func (h hintError) Unwrap() error { return h.err }

// deniedError is a refusal that has already been reported (exit 1).
type deniedError struct{}

func (deniedError) Error() string { return "denied" }

func main() {
	if code, ok := supervise(os.Args[1:], os.Stderr); ok {
		os.Exit(code)
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// superviseEnv marks the serve process that supervise started; it exits
// childUsageCode for bad usage, so that its supervisor can tell bad usage
// from a crash (Go's own exit 2).
const (
	superviseEnv   = "AGENTID_SERVE_SUPERVISED"
	childUsageCode = 64
)

// usageCode is the exit status for bad usage: 2, or childUsageCode in a
// supervised serve process.
func usageCode() int {
	if os.Getenv(superviseEnv) != "" {
		return childUsageCode
	}
	return 2
}

// recovered turns a panic into a failure (exit 1) with one line on stderr:
// Go exits 2 on an unrecovered panic, which is the usage code here.
func recovered(stderr io.Writer, code *int) {
	if r := recover(); r != nil {
		msg := strings.ReplaceAll(fmt.Sprint(r), "\n", " ")
		fmt.Fprintf(stderr, "agentid: error: internal error: %s\n", msg)
		*code = 1
	}
}

// run executes the CLI and returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer recovered(stderr, &code)
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var d deniedError
	if errors.As(err, &d) {
		return 1
	}
	// An error can carry what a server answered (a problem's detail, a
	// token endpoint's error_description): escaped, like every value from
	// a server printed for people.
	fmt.Fprintf(stderr, "agentid: error: %s\n", printable(err.Error()))
	var h hintError
	if errors.As(err, &h) {
		for _, l := range h.hints {
			fmt.Fprintf(stderr, "agentid: hint: %s\n", printable(l))
		}
	}
	var u usageError
	if errors.As(err, &u) {
		fmt.Fprintln(stderr, "agentid: hint: run 'agentid --help' for usage")
		return usageCode()
	}
	return 1
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "agentid",
		Short:         "Identities and short-lived, revocable credentials for AI agents",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(serveCmd(), initCmd(), didCmd(), presentCmd(), verifyCmd(),
		principalCmd(), agentCmd(), credentialCmd(), keysCmd(), auditCmd(), consoleCmd(), approvalCmd(), tokenCmd(), migrateCmd(), storeCmd())
	// Without Args, cobra reports an unknown top-level command as a plain
	// error (exit 1); take the arguments and refuse them as bad usage.
	root.Args = cobra.ArbitraryArgs
	wrapArgs(root)
	return root
}

// wrapArgs makes argument-count errors usage errors, recursively.
func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		orig := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := orig(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	if c.HasSubCommands() && c.RunE == nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return usagef("%s needs a subcommand", cmd.CommandPath())
		}
	}
	for _, s := range c.Commands() {
		wrapArgs(s)
	}
}
