package main

// The CLI's tests are scripts in testdata/script, in the manner of age's
// (and the go command's) testscript, run in-process: each `agentid` line
// calls run() with its own stdout and stderr, against a fresh server
// serving a fresh data directory on a loopback port.
//
// Script language, one command a line, # starts a comment:
//
//	agentid ARGS...        run the CLI; expect exit 0
//	! agentid ARGS...      ... expect exit 1 (denied or failed)
//	!usage agentid ARGS... ... expect exit 2 (bad usage)
//	stdin FILE             the next agentid reads FILE as its stdin
//	stdout RE, stderr RE   the last agentid's output matches RE ((?m) mode);
//	                       with a leading !, does not match
//	[!] grep RE FILE       FILE's content matches RE (or not)
//	json stdout [PATH VAL] stdout is one JSON value; PATH (.a.0.b, .# for a
//	                       length) holds VAL (compared as printed by %v)
//	jsonlines stdout       stdout is non-empty JSON lines
//	set NAME stdout|stderr RE
//	                       set $NAME to RE's first group in that output
//	cp stdout|stderr FILE  write that output to FILE
//	perm FILE MODE         FILE exists with permission bits MODE (octal)
//	[!] exists FILE        FILE exists (or not)
//	replace FILE OLD NEW   replace the first OLD in FILE by NEW (OLD must occur)
//	env NAME=VALUE         set $NAME
//
// Words split on spaces; '...' is literal; $NAME and ${NAME} expand outside
// single quotes. Preset: $WORK (a temporary directory), $DATA (the server's
// data directory), $ADMIN (its admin key), $SERVER (http://localhost:PORT),
// $PORT, $ISSUER (did:web:localhost%3APORT) and $DEAD (a loopback URL no
// one listens on).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/agentid/agentid/internal/server"
)

func TestScripts(t *testing.T) {
	// The environment is read while building the commands; pin it so a
	// developer's settings cannot change the defaults under test.
	t.Setenv("AGENTID_MASTER_KEY", "")
	t.Setenv("AGENTID_SERVER", "")
	t.Setenv("AGENTID_KEY", "")
	files, err := filepath.Glob(filepath.Join("testdata", "script", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata/script: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			newScript(t).run(f, string(src))
		})
	}
}

// startServer serves a new data directory on a loopback port, as `agentid
// serve` does, with the issuer URL http://localhost:PORT.
func startServer(t *testing.T, dir string) (url string, app *server.App) {
	t.Helper()
	return startServerWith(t, dir, nil)
}

// startServerWith is startServer with mod applied to the configuration.
func startServerWith(t *testing.T, dir string, mod func(*server.Config)) (url string, app *server.App) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url = fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	cfg := server.Config{DataDir: dir, IssuerURL: url, AllowHTTPLocalhost: true}
	if mod != nil {
		mod(&cfg)
	}
	app, err = server.Open(context.Background(), cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	s, err := server.NewServer(app, server.ServerOptions{})
	if err != nil {
		ln.Close()
		app.Close()
		t.Fatal(err)
	}
	hs := &http.Server{Handler: s.Handler()}
	go hs.Serve(ln)
	t.Cleanup(func() {
		hs.Close()
		app.Close()
	})
	return url, app
}

// deadURL returns a loopback URL on a port that was free a moment ago.
func deadURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return fmt.Sprintf("http://localhost:%d", port)
}

type script struct {
	t              *testing.T
	env            map[string]string
	stdin          []byte
	stdout, stderr string
	file           string
	line           int
}

func newScript(t *testing.T) *script {
	work := t.TempDir()
	data := filepath.Join(work, "data")
	url, app := startServer(t, data)
	return &script{t: t, env: map[string]string{
		"WORK":   work,
		"DATA":   data,
		"ADMIN":  filepath.Join(data, server.AdminKeyFile),
		"SERVER": url,
		"PORT":   url[strings.LastIndexByte(url, ':')+1:],
		"ISSUER": app.Issuer.DID(),
		"DEAD":   deadURL(t),
	}}
}

func (s *script) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("%s:%d: %s", s.file, s.line, fmt.Sprintf(format, args...))
}

func (s *script) run(file, src string) {
	s.file = file
	for i, raw := range strings.Split(src, "\n") {
		s.line = i + 1
		l := strings.TrimSpace(raw)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		words := s.split(l)
		neg, want := false, 0
		switch words[0] {
		case "!":
			neg, want = true, 1
			words = words[1:]
		case "!usage":
			want = 2
			words = words[1:]
		}
		if len(words) == 0 {
			s.fatalf("missing command")
		}
		s.exec(neg, want, words[0], words[1:])
	}
}

func (s *script) exec(neg bool, want int, cmd string, args []string) {
	s.t.Helper()
	if want == 2 && cmd != "agentid" {
		s.fatalf("!usage applies only to agentid")
	}
	if neg && cmd != "agentid" && cmd != "stdout" && cmd != "stderr" && cmd != "exists" && cmd != "grep" {
		s.fatalf("! does not apply to %s", cmd)
	}
	nargs := func(n int) {
		if len(args) != n {
			s.fatalf("%s takes %d arguments, got %d", cmd, n, len(args))
		}
	}
	switch cmd {
	case "agentid":
		var out, errb bytes.Buffer
		code := run(args, bytes.NewReader(s.stdin), &out, &errb)
		s.stdin, s.stdout, s.stderr = nil, out.String(), errb.String()
		s.t.Logf("%s:%d: agentid %s\n[exit %d]\n[stdout]\n%s[stderr]\n%s", s.file, s.line, strings.Join(args, " "), code, s.stdout, s.stderr)
		if code != want {
			s.fatalf("agentid %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, s.stdout, s.stderr)
		}
	case "chmod":
		nargs(2)
		mode, err := strconv.ParseUint(args[0], 8, 32)
		if err != nil {
			s.fatalf("chmod: %v", err)
		}
		if err := os.Chmod(args[1], os.FileMode(mode)); err != nil {
			s.fatalf("%v", err)
		}
	case "stdin":
		nargs(1)
		b, err := os.ReadFile(args[0])
		if err != nil {
			s.fatalf("%v", err)
		}
		s.stdin = b
	case "stdout", "stderr":
		nargs(1)
		re, err := regexp.Compile("(?m)" + args[0])
		if err != nil {
			s.fatalf("%v", err)
		}
		if got := s.output(cmd); re.MatchString(got) == neg {
			s.fatalf("%s %s %q; it is:\n%s", cmd, map[bool]string{true: "matches", false: "does not match"}[neg], args[0], got)
		}
	case "grep":
		nargs(2)
		re, err := regexp.Compile("(?m)" + args[0])
		if err != nil {
			s.fatalf("%v", err)
		}
		b, err := os.ReadFile(args[1])
		if err != nil {
			s.fatalf("%v", err)
		}
		if re.Match(b) == neg {
			s.fatalf("%s %s %q; it is:\n%s", args[1], map[bool]string{true: "matches", false: "does not match"}[neg], args[0], b)
		}
	case "json":
		if len(args) != 1 && len(args) != 3 {
			s.fatalf("json takes 1 or 3 arguments")
		}
		var v any
		if err := json.Unmarshal([]byte(s.output(args[0])), &v); err != nil {
			s.fatalf("%s is not JSON: %v\n%s", args[0], err, s.output(args[0]))
		}
		if len(args) == 3 {
			got, ok := jsonPath(v, args[1])
			if !ok {
				s.fatalf("%s has no %s:\n%s", args[0], args[1], s.output(args[0]))
			}
			if fmt.Sprint(got) != args[2] {
				s.fatalf("%s %s = %v, want %s", args[0], args[1], got, args[2])
			}
		}
	case "jsonlines":
		nargs(1)
		lines := strings.Split(strings.TrimRight(s.output(args[0]), "\n"), "\n")
		for _, l := range lines {
			if !json.Valid([]byte(l)) {
				s.fatalf("%s: not a JSON line: %q", args[0], l)
			}
		}
	case "set":
		nargs(3)
		re, err := regexp.Compile("(?m)" + args[2])
		if err != nil {
			s.fatalf("%v", err)
		}
		m := re.FindStringSubmatch(s.output(args[1]))
		if len(m) < 2 {
			s.fatalf("%s does not match %q:\n%s", args[1], args[2], s.output(args[1]))
		}
		s.env[args[0]] = m[1]
	case "cp":
		nargs(2)
		if err := os.WriteFile(args[1], []byte(s.output(args[0])), 0o600); err != nil {
			s.fatalf("%v", err)
		}
	case "perm":
		nargs(2)
		fi, err := os.Stat(args[0])
		if err != nil {
			s.fatalf("%v", err)
		}
		mode, err := strconv.ParseUint(args[1], 8, 32)
		if err != nil {
			s.fatalf("bad mode %q", args[1])
		}
		if fi.Mode().Perm() != os.FileMode(mode) {
			s.fatalf("%s has mode %v, want %v", args[0], fi.Mode().Perm(), os.FileMode(mode))
		}
	case "exists":
		nargs(1)
		if _, err := os.Stat(args[0]); (err == nil) == neg {
			s.fatalf("exists %s: %v (negated %v)", args[0], err, neg)
		}
	case "replace":
		nargs(3)
		b, err := os.ReadFile(args[0])
		if err != nil {
			s.fatalf("%v", err)
		}
		if !bytes.Contains(b, []byte(args[1])) {
			s.fatalf("%s does not contain %q", args[0], args[1])
		}
		b = bytes.Replace(b, []byte(args[1]), []byte(args[2]), 1)
		if err := os.WriteFile(args[0], b, 0o600); err != nil {
			s.fatalf("%v", err)
		}
	case "env":
		nargs(1)
		k, v, ok := strings.Cut(args[0], "=")
		if !ok {
			s.fatalf("env wants NAME=VALUE")
		}
		s.env[k] = v
	default:
		s.fatalf("unknown command %q", cmd)
	}
}

func (s *script) output(name string) string {
	switch name {
	case "stdout":
		return s.stdout
	case "stderr":
		return s.stderr
	}
	s.fatalf("%q is neither stdout nor stderr", name)
	return ""
}

// split cuts a line into words: '...' is literal, "..." groups with
// expansion, $NAME and ${NAME} expand elsewhere.
func (s *script) split(l string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(l[i+1:], '\'')
			if j < 0 {
				s.fatalf("unterminated quote")
			}
			cur.WriteString(l[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := strings.IndexByte(l[i+1:], '"')
			if j < 0 {
				s.fatalf("unterminated quote")
			}
			cur.WriteString(s.expand(l[i+1 : i+1+j]))
			i += j + 1
			inWord = true
		default:
			j := strings.IndexAny(l[i:], " \t'\"")
			if j < 0 {
				j = len(l) - i
			}
			cur.WriteString(s.expand(l[i : i+j]))
			i += j - 1
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

var varRE = regexp.MustCompile(`\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)`)

func (s *script) expand(w string) string {
	return varRE.ReplaceAllStringFunc(w, func(m string) string {
		name := strings.Trim(m[1:], "{}")
		v, ok := s.env[name]
		if !ok {
			s.fatalf("$%s is not set", name)
		}
		return v
	})
}

// jsonPath walks v along a path such as .agents.0.did; .# is a length.
func jsonPath(v any, path string) (any, bool) {
	if path == "." {
		return v, true
	}
	for _, p := range strings.Split(strings.TrimPrefix(path, "."), ".") {
		switch x := v.(type) {
		case map[string]any:
			if p == "#" {
				return len(x), true
			}
			var ok bool
			if v, ok = x[p]; !ok {
				return nil, false
			}
		case []any:
			if p == "#" {
				return len(x), true
			}
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}
