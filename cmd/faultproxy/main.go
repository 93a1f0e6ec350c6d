// Command faultproxy forwards TCP connections from a loopback port to a
// target, as a separate process that tests can fault from outside:
//
//	kill -KILL  cut: every connection resets, new ones are refused
//	kill -STOP  freeze: the kernel still accepts connections and bytes, nothing is forwarded
//	kill -CONT  thaw
//	kill -USR1  half-open: the connections open now stay open but silently drop
//	            every byte, both ways (as after a NAT or firewall forgot them);
//	            connections made later work
//	kill -USR2  heal: the half-open connections are closed
//
// It prints "listening ADDR" once it listens, and "half-open" or "healed"
// once it has applied a signal, one line each on stdout. It exits when its
// standard input closes, so it never outlives the test that started it.
// internal/testkit.StartFaultProxy builds and drives it.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	target := flag.String("target", "", "host:port to forward to")
	flag.Parse()
	if *target == "" {
		fmt.Fprintln(os.Stderr, "faultproxy: -target is required")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faultproxy:", err)
		os.Exit(1)
	}
	p := &proxy{target: *target, pairs: map[*pair]struct{}{}}
	go p.signals()
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); os.Exit(0) }()
	fmt.Printf("listening %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "faultproxy:", err)
			os.Exit(1)
		}
		go p.serve(c)
	}
}

// proxy tracks every open connection pair.
type proxy struct {
	target string
	mu     sync.Mutex
	pairs  map[*pair]struct{}
}

// pair is one client connection and its connection to the target.
type pair struct {
	client, server net.Conn
	dropping       atomic.Bool
}

func (p *proxy) signals() {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGUSR1, syscall.SIGUSR2)
	for s := range ch {
		if s == syscall.SIGUSR1 {
			p.halfOpen()
			fmt.Println("half-open")
		} else {
			p.heal()
			fmt.Println("healed")
		}
	}
}

// halfOpen makes every open pair drop its bytes from now on.
func (p *proxy) halfOpen() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pr := range p.pairs {
		pr.dropping.Store(true)
	}
}

// heal closes the pairs that drop bytes.
func (p *proxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pr := range p.pairs {
		if pr.dropping.Load() {
			_ = pr.client.Close()
			_ = pr.server.Close()
			delete(p.pairs, pr)
		}
	}
}

func (p *proxy) serve(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	pr := &pair{client: client, server: server}
	p.mu.Lock()
	p.pairs[pr] = struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { pr.copy(server, client); done <- struct{}{} }()
	go func() { pr.copy(client, server); done <- struct{}{} }()
	<-done
	if pr.dropping.Load() {
		// A half-open connection forwards no close either: heal ends it.
		<-done
	}
	_ = client.Close()
	_ = server.Close()
	p.mu.Lock()
	delete(p.pairs, pr)
	p.mu.Unlock()
}

// copy forwards from src to dst until src ends, discarding what it reads
// while the pair drops bytes.
func (pr *pair) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !pr.dropping.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
