package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
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
	c, err := net.Dial("tcp", u.Host)
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
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, nil, err
	}
	n, _ := strconv.Atoi(resp.Header.Get("Content-Length"))
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	c.buf = c.buf[:n]
	if n > 0 {
		_, err = io.ReadFull(resp.Body, c.buf)
	} else {
		c.buf, err = io.ReadAll(resp.Body)
	}
	resp.Body.Close()
	return resp.StatusCode, c.buf, err
}

var validPrefix = []byte(`{"valid":true,`)

func isValid(body []byte) bool { return bytes.HasPrefix(body, validPrefix) }
