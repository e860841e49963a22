// netstackbench: the `weir bench` workloads (bulk, rr, crr, idle) on gVisor's netstack, for
// scripts/bench_peers.sh. Two netstack stacks (A 10.0.0.1/24, B 10.0.0.2/24; IPv4 and TCP,
// SACK and receive-buffer auto-tuning on, as runsc configures them) joined by an in-memory
// link inside one Go process, driven through the gonet adapter (net.Conn), which is what
// embedders of netstack use. Prints one RESULT line per run in the format of `weir bench`
// (key=value fields; scripts/peers/summarize.py reads them).
//
// Links (-link):
//
//	channel  link/channel endpoints (-queue packets each way) and one goroutine per direction
//	         that moves what one stack wrote into the other with InjectInbound: asynchronous,
//	         as a NIC is (the default, and the one bench_peers.sh runs)
//	pipe     link/pipe: a write on one side runs the other stack's receive path inline
//
// No Ethernet header, no ARP, no GSO.
//
// Workloads (the definitions of `weir bench`, tools/bench_*.cc):
//
//	bulk  A connects to B:5001 and writes 64 KiB for -secs (clock checked every 16 MiB), then
//	      half-closes; B reads 256 KiB at a time until EOF. Elapsed: from the connect until B
//	      saw EOF; CPU: the whole process (both stacks, the link, the Go runtime).
//	rr    one connection (netstack's default is Nagle off); 1000 warm-up, then -n timed round
//	      trips: A writes 1 byte, B reads it and writes it back, A reads it.
//	crr   100 warm-up, then -n sequential connections: A connects and writes 1 byte; B reads
//	      it, writes 1 byte and closes first; A reads the byte and EOF, then closes.
//	idle  10 warm-up connections, then -conns established pairs held open; RSS growth per
//	      pair after a GC (and Go heap growth per pair).
//
// Build against Debian's golang-gvisor-gvisor-dev (GOPATH mode):
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o netstackbench netstackbench.go
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"syscall"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/pipe"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

var (
	mode     = flag.String("mode", "bulk", "bulk | rr | crr | idle")
	linkKind = flag.String("link", "channel", "channel | pipe")
	mtu      = flag.Uint("mtu", 1500, "link MTU")
	secs     = flag.Float64("secs", 5, "bulk: seconds A keeps writing")
	iters    = flag.Int("n", 0, "rr: round trips (default 100000); crr: connections (default 10000)")
	conns    = flag.Int("conns", 10000, "idle: connection pairs held open")
	queueLen = flag.Int("queue", 1024, "channel link: packets queued per direction")
	label    = flag.String("label", "", "free-form label echoed in the RESULT line")
)

var (
	addrA = tcpip.Address(net.IPv4(10, 0, 0, 1).To4())
	addrB = tcpip.Address(net.IPv4(10, 0, 0, 2).To4())
)

const (
	port            = 5001
	chunkSize       = 64 << 10
	readSize        = 256 << 10
	clockCheckBytes = 16 << 20
)

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "netstackbench: "+format+"\n", a...)
	os.Exit(1)
}

func newStack(ep stack.LinkEndpoint, addr tcpip.Address) *stack.Stack {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	sack := tcpip.TCPSACKEnabled(true)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		die("SACK: %v", err)
	}
	autotune := tcpip.TCPModerateReceiveBufferOption(true)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &autotune); err != nil {
		die("receive buffer auto-tuning: %v", err)
	}
	if err := s.CreateNIC(1, ep); err != nil {
		die("CreateNIC: %v", err)
	}
	address := tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: addr, PrefixLen: 24},
	}
	if err := s.AddProtocolAddress(1, address, stack.AddressProperties{}); err != nil {
		die("AddProtocolAddress: %v", err)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: address.AddressWithPrefix.Subnet(), NIC: 1}})
	return s
}

// forward moves every packet that from's stack writes into to's stack, until ctx ends.
func forward(ctx context.Context, from, to *channel.Endpoint) {
	for {
		pkt := from.ReadContext(ctx)
		if pkt.IsNil() {
			return
		}
		in := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: pkt.ToBuffer()})
		proto := pkt.NetworkProtocolNumber
		pkt.DecRef()
		to.InjectInbound(proto, in)
		in.DecRef()
	}
}

func newStacks(ctx context.Context) (a, b *stack.Stack, drops func() uint64) {
	switch *linkKind {
	case "pipe":
		ea, eb := pipe.New("\x02\x00\x00\x00\x00\x01", "\x02\x00\x00\x00\x00\x02", uint32(*mtu))
		a, b = newStack(ea, addrA), newStack(eb, addrB)
	case "channel":
		ea := channel.New(*queueLen, uint32(*mtu), "\x02\x00\x00\x00\x00\x01")
		eb := channel.New(*queueLen, uint32(*mtu), "\x02\x00\x00\x00\x00\x02")
		a, b = newStack(ea, addrA), newStack(eb, addrB)
		go forward(ctx, ea, eb)
		go forward(ctx, eb, ea)
	default:
		die("unknown -link %q", *linkKind)
	}
	return a, b, func() uint64 {
		return a.Stats().NICs.TxPacketsDroppedNoBufferSpace.Value() +
			b.Stats().NICs.TxPacketsDroppedNoBufferSpace.Value()
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func rssBytes() int64 {
	var size, resident int64
	f, err := os.Open("/proc/self/statm")
	if err != nil {
		return -1
	}
	defer f.Close()
	if _, err := fmt.Fscan(f, &size, &resident); err != nil {
		return -1
	}
	return resident * int64(os.Getpagesize())
}

func listen(b *stack.Stack) *gonet.TCPListener {
	l, err := gonet.ListenTCP(b, tcpip.FullAddress{NIC: 1, Addr: addrB, Port: port}, ipv4.ProtocolNumber)
	if err != nil {
		die("listen: %v", err)
	}
	return l
}

func dial(a *stack.Stack) *gonet.TCPConn {
	c, err := gonet.DialTCP(a, tcpip.FullAddress{NIC: 1, Addr: addrB, Port: port}, ipv4.ProtocolNumber)
	if err != nil {
		die("dial: %v", err)
	}
	return c
}

func result(fields string) {
	line := fmt.Sprintf("RESULT peer=gvisor link=%s mtu=%d gomaxprocs=%d test=%s %s",
		*linkKind, *mtu, runtime.GOMAXPROCS(0), *mode, fields)
	if *label != "" {
		line += " label=" + *label
	}
	fmt.Println(line)
}

func runBulk(a, b *stack.Stack, drops func() uint64) {
	l := listen(b)
	received := make(chan int64)
	go func() {
		c, err := l.Accept()
		if err != nil {
			die("accept: %v", err)
		}
		buf := make([]byte, readSize)
		var got int64
		for {
			n, err := c.Read(buf)
			got += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				die("bulk read: %v", err)
			}
		}
		c.Close()
		received <- got
	}()
	chunk := make([]byte, chunkSize)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	cpu0 := cpuSeconds()
	t0 := time.Now()
	deadline := t0.Add(time.Duration(*secs * float64(time.Second)))
	c := dial(a)
	var sent int64
	next := int64(clockCheckBytes)
	for {
		if sent >= next {
			next += clockCheckBytes
			if time.Now().After(deadline) {
				break
			}
		}
		n, err := c.Write(chunk)
		if err != nil {
			die("bulk write: %v", err)
		}
		sent += int64(n)
	}
	if err := c.CloseWrite(); err != nil {
		die("bulk: half-close: %v", err)
	}
	got := <-received
	elapsed := time.Since(t0).Seconds()
	cpu := cpuSeconds() - cpu0
	c.Close()
	if got != sent {
		die("bulk: received %d of %d bytes", got, sent)
	}
	st := a.Stats().TCP
	result(fmt.Sprintf("bytes=%d secs=%.3f gbps=%.3f cpu_s=%.3f cpu_util=%.2f segs_sent=%d retrans=%d rto=%d link_drops=%d",
		got, elapsed, float64(got)*8/elapsed/1e9, cpu, cpu/elapsed, st.SegmentsSent.Value(),
		st.Retransmits.Value(), st.Timeouts.Value(), drops()))
}

func runRR(a, b *stack.Stack) {
	n := *iters
	if n <= 0 {
		n = 100000
	}
	l := listen(b)
	go func() {
		c, err := l.Accept()
		if err != nil {
			die("accept: %v", err)
		}
		buf := make([]byte, 1)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				c.Close()
				return
			}
			if _, err := c.Write(buf); err != nil {
				die("rr: server write: %v", err)
			}
		}
	}()
	c := dial(a)
	buf := []byte{'x'}
	roundTrip := func() {
		if _, err := c.Write(buf); err != nil {
			die("rr: client write: %v", err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			die("rr: client read: %v", err)
		}
	}
	for i := 0; i < 1000; i++ {
		roundTrip()
	}
	latency := make([]time.Duration, n)
	cpu0 := cpuSeconds()
	t0 := time.Now()
	for i := range latency {
		s := time.Now()
		roundTrip()
		latency[i] = time.Since(s)
	}
	elapsed := time.Since(t0).Seconds()
	cpu := cpuSeconds() - cpu0
	c.Close()
	var sum time.Duration
	for _, d := range latency {
		sum += d
	}
	sort.Slice(latency, func(i, j int) bool { return latency[i] < latency[j] })
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	result(fmt.Sprintf("n=%d secs=%.3f rtt_mean_us=%.2f rtt_p50_us=%.2f rtt_p99_us=%.2f rt_per_s=%.0f cpu_s=%.3f",
		n, elapsed, us(sum)/float64(n), us(latency[n/2]), us(latency[n*99/100]), float64(n)/elapsed, cpu))
}

func runCRR(a, b *stack.Stack) {
	n := *iters
	if n <= 0 {
		n = 10000
	}
	l := listen(b)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				buf := make([]byte, 1)
				if _, err := io.ReadFull(c, buf); err == nil {
					c.Write([]byte{'y'})
				}
				c.Close() // the server closes first
			}(c)
		}
	}()
	buf := make([]byte, 1)
	connection := func() {
		c := dial(a)
		if _, err := c.Write([]byte{'x'}); err != nil {
			die("crr: client write: %v", err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			die("crr: client read: %v", err)
		}
		if k, err := c.Read(buf); k != 0 || err != io.EOF {
			die("crr: expected EOF, got %d bytes, %v", k, err)
		}
		c.Close()
	}
	for i := 0; i < 100; i++ {
		connection()
	}
	cpu0 := cpuSeconds()
	t0 := time.Now()
	var firstTenth float64
	for i := 0; i < n; i++ {
		connection()
		if i+1 == n/10 {
			firstTenth = time.Since(t0).Seconds()
		}
	}
	elapsed := time.Since(t0).Seconds()
	cpu := cpuSeconds() - cpu0
	first := 0.0
	if firstTenth > 0 {
		first = float64(n/10) / firstTenth
	}
	result(fmt.Sprintf("n=%d secs=%.3f conn_per_s=%.0f us_per_conn=%.2f cpu_s=%.3f first10pct_conn_per_s=%.0f",
		n, elapsed, float64(n)/elapsed, elapsed*1e6/float64(n), cpu, first))
}

func runIdle(a, b *stack.Stack) {
	l := listen(b)
	accepted := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var held []net.Conn // both ends of every pair, kept open
	pair := func() {
		held = append(held, dial(a), <-accepted)
	}
	for i := 0; i < 10; i++ {
		pair()
	}
	time.Sleep(200 * time.Millisecond)
	runtime.GC()
	debug.FreeOSMemory()
	var heap0 runtime.MemStats
	runtime.ReadMemStats(&heap0)
	rss0 := rssBytes()
	t0 := time.Now()
	for i := 0; i < *conns; i++ {
		pair()
	}
	elapsed := time.Since(t0).Seconds()
	time.Sleep(500 * time.Millisecond)
	runtime.GC()
	debug.FreeOSMemory()
	var heap1 runtime.MemStats
	runtime.ReadMemStats(&heap1)
	rss1 := rssBytes()
	n := float64(*conns)
	result(fmt.Sprintf("conns=%d open_secs=%.3f rss_before_mb=%.1f rss_after_mb=%.1f rss_per_pair_bytes=%.0f heap_inuse_per_pair_bytes=%.0f goroutines=%d",
		*conns, elapsed, float64(rss0)/1048576, float64(rss1)/1048576, float64(rss1-rss0)/n,
		float64(int64(heap1.HeapInuse)-int64(heap0.HeapInuse))/n, runtime.NumGoroutine()))
	for _, c := range held {
		c.Close()
	}
}

func main() {
	flag.Parse()
	if *secs <= 0 || *conns <= 0 || *iters < 0 {
		die("-secs, -conns and -n must be positive")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b, drops := newStacks(ctx)
	switch *mode {
	case "bulk":
		runBulk(a, b, drops)
	case "rr":
		runRR(a, b)
	case "crr":
		runCRR(a, b)
	case "idle":
		runIdle(a, b)
	default:
		die("unknown -mode %q (bulk | rr | crr | idle)", *mode)
	}
}
