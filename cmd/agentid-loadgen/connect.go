package main

import (
	"flag"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
)

// connectTo, set by -connect, are the addresses the timed phase's
// connections go to, in turn, instead of the -server URL's host: replicas
// that share one issuer URL (as behind a load balancer), each reached
// directly. Requests still name the -server URL (Host, audiences).
var (
	connectTo []string
	connectN  atomic.Uint64
)

func init() {
	flag.Func("connect", "comma-separated loopback host:port list to spread the timed phase's connections over (replicas sharing the -server issuer URL)", func(s string) error {
		for _, a := range strings.Split(s, ",") {
			host, _, err := net.SplitHostPort(a)
			if err != nil {
				return err
			}
			if host != "127.0.0.1" && host != "localhost" && host != "::1" {
				return fmt.Errorf("refusing %s: only loopback targets are allowed", a)
			}
			connectTo = append(connectTo, a)
		}
		return nil
	})
}

// dialAddr is the address the next connection to host goes to.
func dialAddr(host string) string {
	if len(connectTo) == 0 {
		return host
	}
	return connectTo[(connectN.Add(1)-1)%uint64(len(connectTo))]
}
