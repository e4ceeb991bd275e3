package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spellcoven/gateway/internal/freeport"
)

// MasterName is the name the sentinels of StartSentinel monitor the primary under.
const MasterName = "coven"

// settleTimeout bounds how long a set of servers may take to agree on its shape: a replica in sync,
// sentinels that know one another, a cluster whose nodes all report it ok, a promotion.
const settleTimeout = 30 * time.Second

// Sentinel is a primary, a replica of it and three sentinels monitoring it as MasterName.
type Sentinel struct {
	t         testing.TB
	Primary   *Server
	Replica   *Server
	Sentinels []*Server
}

// StartSentinel starts a primary, a replica and three sentinels with a quorum of two, and waits until
// the replica is in sync and every sentinel knows the replica and the two other sentinels, so that
// killing the primary leads to a promotion. A sentinel takes the primary for down after downAfter
// without an answer.
func StartSentinel(t testing.TB, downAfter time.Duration) *Sentinel {
	t.Helper()
	primary := Start(t)
	replica := Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.Port))
	s := &Sentinel{t: t, Primary: primary, Replica: replica}
	waitUntil(t, "the replica to be in sync", func() (bool, string) {
		info := infoField(replica.Addr(), "replication", "master_link_status")
		return info == "up", "master_link_status:" + info
	})
	dir := t.TempDir()
	for i := range 3 {
		// A sentinel rewrites its configuration file: each needs one of its own.
		conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", i))
		body := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2\nsentinel down-after-milliseconds %s %d\nsentinel failover-timeout %s 10000\n",
			MasterName, primary.Port, MasterName, downAfter.Milliseconds(), MasterName)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		s.Sentinels = append(s.Sentinels, startConf(t, conf, "--sentinel"))
	}
	for _, sn := range s.Sentinels {
		waitUntil(t, "sentinel "+sn.Addr()+" to know the replica and the other sentinels", func() (bool, string) {
			m, err := sentinelMaster(sn.Addr())
			if err != nil {
				return false, err.Error()
			}
			return m["num-slaves"] == "1" && m["num-other-sentinels"] == "2", fmt.Sprintf("replicas %s, other sentinels %s", m["num-slaves"], m["num-other-sentinels"])
		})
	}
	return s
}

// Addrs returns the sentinels' host:port addresses.
func (s *Sentinel) Addrs() []string {
	out := make([]string, len(s.Sentinels))
	for i, sn := range s.Sentinels {
		out[i] = sn.Addr()
	}
	return out
}

// MasterAddr returns where the sentinel at index i says the primary is.
func (s *Sentinel) MasterAddr(i int) (string, error) {
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinels[i].Addr(), DialTimeout: time.Second, ReadTimeout: time.Second, DisableIdentity: true})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addr, err := c.GetMasterAddrByName(ctx, MasterName).Result()
	if err != nil {
		return "", err
	}
	return addr[0] + ":" + addr[1], nil
}

// WaitPromoted waits until every sentinel names the replica as the primary and the replica says it
// is one.
func (s *Sentinel) WaitPromoted() {
	s.t.Helper()
	waitUntil(s.t, "the replica to be promoted", func() (bool, string) {
		for i := range s.Sentinels {
			addr, err := s.MasterAddr(i)
			if err != nil {
				return false, err.Error()
			}
			if addr != s.Replica.Addr() {
				return false, fmt.Sprintf("sentinel %d names %s", i, addr)
			}
		}
		role := infoField(s.Replica.Addr(), "replication", "role")
		return role == "master", "the replica's role is " + role
	})
}

// Cluster is a Redis Cluster of primaries without replicas.
type Cluster struct {
	Nodes []*Server
}

// StartCluster starts n redis-servers with cluster-enabled, joins them with redis-cli --cluster
// create, and waits until every node reports cluster_state:ok and knows the n nodes.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatalf("redis-cli is not installed (it comes with the Debian package redis-server): %v", err)
	}
	dir := t.TempDir()
	c := &Cluster{}
	for i := range n {
		bus, err := freeport.Pick()
		if err != nil {
			t.Fatal(err)
		}
		c.Nodes = append(c.Nodes, Start(t, "--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus),
			"--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", i)), "--cluster-node-timeout", "5000"))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, node := range c.Nodes {
		waitUntil(t, "node "+node.Addr()+" to report the cluster ok", func() (bool, string) {
			state := infoField(node.Addr(), "cluster", "cluster_state")
			known := infoField(node.Addr(), "cluster", "cluster_known_nodes")
			return state == "ok" && known == strconv.Itoa(n), fmt.Sprintf("cluster_state:%s cluster_known_nodes:%s", state, known)
		})
	}
	return c
}

// Addrs returns the nodes' host:port addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, node := range c.Nodes {
		out[i] = node.Addr()
	}
	return out
}

// Owner returns the node that holds key's slot: the one that answers for it rather than redirecting.
// It fails the test when none does.
func (c *Cluster) Owner(key string) *Server {
	t := c.Nodes[0].t
	t.Helper()
	for _, node := range c.Nodes {
		rc := redis.NewClient(&redis.Options{Addr: node.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1, DisableIdentity: true})
		err := rc.Exists(context.Background(), key).Err()
		rc.Close()
		if err == nil {
			return node
		}
	}
	t.Fatalf("no node of the cluster answers for %s", key)
	return nil
}

// infoField returns a field of INFO section ("replication") or of CLUSTER INFO (section "cluster")
// of the server at addr, "" when it cannot be read.
func infoField(addr, section, field string) string {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1, DisableIdentity: true})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var text string
	var err error
	if section == "cluster" {
		text, err = c.ClusterInfo(ctx).Result()
	} else {
		text, err = c.Info(ctx, section).Result()
	}
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// sentinelMaster returns what the sentinel at addr knows of MasterName.
func sentinelMaster(addr string) (map[string]string, error) {
	c := redis.NewSentinelClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, DisableIdentity: true})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Master(ctx, MasterName).Result()
}

// waitUntil polls cond until it holds, failing the test with what it last said after settleTimeout.
func waitUntil(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: still %s after %v", what, last, settleTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
