// Command coredns is a slim CoreDNS for the local test cluster's real node (tests/cluster/cluster.sh up --real):
// the cluster DNS for cluster.local and nothing else (no forward: the cluster's namespace has no upstream).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	// The only plugins compiled in; any other directive in a Corefile is an error.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func init() {
	// The plugin chain order, as in CoreDNS's plugin.cfg, restricted to the plugins above.
	dnsserver.Directives = []string{"reload", "bind", "ready", "health", "errors", "log", "cache", "kubernetes"}
}

func main() { coremain.Run() }
