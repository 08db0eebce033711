package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"net/url"
	"strconv"
)

// conn is a minimal HTTP/1.1 keep-alive client for one connection: the
// generator shares the cores with the server it measures, so it spends as
// little CPU per request as it can (net/http's client costs about as much
// as the server's side of a request).
type conn struct {
	c    net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	host string
	buf  []byte
}

func dial(server string) (*conn, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("the load generator speaks plain http to loopback only")
	}
	c, err := net.Dial("tcp", dialAddr(u.Host))
	if err != nil {
		return nil, err
	}
	return &conn{c: c, r: bufio.NewReaderSize(c, 16<<10), w: bufio.NewWriterSize(c, 16<<10), host: u.Host}, nil
}

// post sends one request and returns the status and body (valid until the
// next call).
func (c *conn) post(path, auth string, body []byte) (int, []byte, error) {
	fmt.Fprintf(c.w, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", path, c.host, len(body))
	if auth != "" {
		fmt.Fprintf(c.w, "Authorization: VP %s\r\n", auth)
	}
	c.w.WriteString("\r\n")
	c.w.Write(body)
	if err := c.w.Flush(); err != nil {
		return 0, nil, err
	}
	return c.readResponse()
}

// readResponse reads a status line, headers and a Content-Length body
// without building a header map.
func (c *conn) readResponse() (int, []byte, error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	n, chunked := -1, false
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		if len(h) <= 2 { // the blank line
			break
		}
		if len(h) > 18 && bytes.EqualFold(h[:18], []byte("Transfer-Encoding:")) && bytes.Contains(bytes.ToLower(h), []byte("chunked")) {
			chunked = true
		}
		if len(h) > 16 && (h[0] == 'C' || h[0] == 'c') && bytes.EqualFold(h[:15], []byte("Content-Length:")) {
			if n, err = strconv.Atoi(string(bytes.TrimSpace(h[15:]))); err != nil {
				return 0, nil, fmt.Errorf("bad Content-Length %q", h)
			}
		}
	}
	if chunked {
		body, err := io.ReadAll(httputil.NewChunkedReader(c.r))
		if err != nil {
			return 0, nil, err
		}
		for { // the trailer section ends with a blank line
			t, err := c.r.ReadSlice('\n')
			if err != nil {
				return 0, nil, err
			}
			if len(t) <= 2 {
				break
			}
		}
		return status, body, nil
	}
	if n < 0 {
		return 0, nil, errors.New("response without Content-Length or chunked encoding")
	}
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	c.buf = c.buf[:n]
	_, err = io.ReadFull(c.r, c.buf)
	return status, c.buf, err
}

var validPrefix = []byte(`{"valid":true,`)

func isValid(body []byte) bool { return bytes.HasPrefix(body, validPrefix) }
