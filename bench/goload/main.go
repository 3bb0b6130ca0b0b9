// goload: guessnet's load generator, compiled so that it measures the server, not itself.
//
// It speaks the real protocol (4-byte big-endian length, JSON payload) over real TLS, verifying
// the server against the CA file, with one goroutine per connection reading and one acting.
// Each scenario prints one JSON object on standard output: the figures, and the generator's
// own CPU time (getrusage), so every report can show what the measuring cost.
//
//	goload human    -port P -ca ca.pem -players 3000 -ramp 10s -duration 30s [-room-size 50] [-stay]
//	goload saturate -port P -ca ca.pem -clients 50 -duration 8s [-reference]
//	goload fanout   -port P -ca ca.pem -members 1000 -rounds 20
//	goload connect  -port P -ca ca.pem -workers 16 -duration 5s [-hold 1000]
//
// "human" is the burst too: players arrive spread over -ramp, and the time from a player's
// first byte to its first round_started ("admitted") is reported with the guess latencies.
// A player leaves once its next pause would end past the measured time (so players leave
// during the last seconds, each leaving a held seat its room is told of); with -stay every
// player stays connected until 3 s after it, so no departure falls in the measured time.
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const maxPayload = 4096

type msg map[string]any

// conn is one player's connection: a locked writer and a reader that answers pings.
type conn struct {
	tls     *tls.Conn
	r       *bufio.Reader
	wmu     sync.Mutex
	inbox   chan msg
	closed  chan struct{}
	onFrame func(m msg, at time.Time) // called by the reader for every message (optional)
}

var tlsConfig *tls.Config
var address string
var prefix string // names of this run's players start with it (a server holds names a while)

func dial(timeout time.Duration) (*conn, error) {
	d := &net.Dialer{Timeout: timeout}
	raw, err := d.Dial("tcp", address)
	if err != nil {
		return nil, err
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		tcp.SetNoDelay(true)
	}
	t := tls.Client(raw, tlsConfig)
	t.SetDeadline(time.Now().Add(timeout))
	if err := t.Handshake(); err != nil {
		raw.Close()
		return nil, err
	}
	t.SetDeadline(time.Time{})
	return &conn{tls: t, r: bufio.NewReaderSize(t, 16384), inbox: make(chan msg, 256),
		closed: make(chan struct{})}, nil
}

func (c *conn) send(m msg) error {
	payload, err := json.Marshal(m)
	if err != nil {
		return err
	}
	frame := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(frame, uint32(len(payload)))
	copy(frame[4:], payload)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.tls.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err = c.tls.Write(frame)
	return err
}

// read runs in its own goroutine until the connection ends.
func (c *conn) read() {
	defer close(c.closed)
	header := make([]byte, 4)
	for {
		if _, err := io.ReadFull(c.r, header); err != nil {
			return
		}
		size := binary.BigEndian.Uint32(header)
		if size > maxPayload {
			return
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(c.r, payload); err != nil {
			return
		}
		at := time.Now()
		var m msg
		if json.Unmarshal(payload, &m) != nil {
			continue
		}
		if m["type"] == "ping" {
			c.send(msg{"type": "pong", "nonce": m["nonce"]})
			continue
		}
		if c.onFrame != nil {
			c.onFrame(m, at)
		}
		select {
		case c.inbox <- m:
		default: // nobody waits for this kind of message: drop it, never block the reader
		}
	}
}

// expect waits for a message whose type is one of kinds (an error or bye ends the wait too).
func (c *conn) expect(timeout time.Duration, kinds ...string) (msg, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case m := <-c.inbox:
			kind, _ := m["type"].(string)
			for _, k := range kinds {
				if kind == k {
					return m, nil
				}
			}
			if kind == "error" || kind == "bye" {
				return m, fmt.Errorf("%v: %v", kind, m["message"])
			}
		case <-c.closed:
			return nil, errors.New("connection closed")
		case <-deadline.C:
			return nil, fmt.Errorf("no %v within %v", kinds, timeout)
		}
	}
}

func (c *conn) close() { c.tls.Close() }

func number(m msg, key string) int {
	f, _ := m[key].(float64)
	return int(f)
}

// join: hello, a name, a game; returns the round_started.
func join(c *conn, name, mode, room string) (msg, error) {
	steps := []struct {
		m    msg
		want string
	}{
		{msg{"type": "hello", "version": 1, "client": "goload"}, "welcome"},
		{msg{"type": "name", "name": name}, "identified"},
		{msg{"type": "play", "mode": mode}, "round_started"},
	}
	if room != "" {
		steps[2].m["room"] = room
	}
	var answer msg
	for _, step := range steps {
		if err := c.send(step.m); err != nil {
			return nil, err
		}
		var err error
		if answer, err = c.expect(30*time.Second, step.want); err != nil {
			return nil, err
		}
	}
	return answer, nil
}

// ------------------------------------------------------------------------- figures

// reasons keeps the first few failure messages, to say in the report why players failed.
var addressPattern = regexp.MustCompile(`[0-9.]+:[0-9]+`)

var reasons struct {
	mu   sync.Mutex
	seen map[string]int
}

func failedBecause(err error) {
	reasons.mu.Lock()
	defer reasons.mu.Unlock()
	if reasons.seen == nil {
		reasons.seen = map[string]int{}
	}
	text := addressPattern.ReplaceAllString(err.Error(), "ADDRESS")
	if len(text) > 120 {
		text = text[:120]
	}
	if _, ok := reasons.seen[text]; ok || len(reasons.seen) < 8 {
		reasons.seen[text]++
	}
}

type samples struct {
	mu sync.Mutex
	ms []float64
}

func (s *samples) add(d time.Duration) {
	s.mu.Lock()
	s.ms = append(s.ms, float64(d.Microseconds())/1000)
	s.mu.Unlock()
}

func (s *samples) summary(prefix string, out map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sort.Float64s(s.ms)
	pct := func(p float64) float64 {
		if len(s.ms) == 0 {
			return 0
		}
		i := int(math.Ceil(p/100*float64(len(s.ms)))) - 1
		if i < 0 {
			i = 0
		}
		return s.ms[i]
	}
	out[prefix+"count"] = len(s.ms)
	out[prefix+"p50_ms"] = pct(50)
	out[prefix+"p95_ms"] = pct(95)
	out[prefix+"p99_ms"] = pct(99)
	out[prefix+"max_ms"] = pct(100)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// ------------------------------------------------------------------------- human

// bisect guesses like a person who reads the hints: halve the range each time.
type bisect struct{ low, high int }

func (b *bisect) next() int { return (b.low + b.high) / 2 }

func (b *bisect) hint(value int, result string) {
	if result == "high" {
		b.high = value - 1
	} else if result == "low" {
		b.low = value + 1
	}
	if b.low > b.high { // a new round began meanwhile: start over
		b.low, b.high = 1, 10
	}
}

// sliceSeconds: the measured window's latency is also summarised by slices of this length
// (when in the window the slow answers came: arrivals running late, play, departures)
const sliceSeconds = 5

func human(players, roomSize int, ramp, duration time.Duration, stay bool) map[string]any {
	var latency, admit samples
	slices := make([]samples, int(math.Ceil(duration.Seconds()/sliceSeconds)))
	var admitted, failed, dropped, guesses, rejected int64
	start := time.Now()
	measureFrom := start.Add(ramp)
	end := measureFrom.Add(duration)
	var wg sync.WaitGroup
	for i := 0; i < players; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			time.Sleep(time.Duration(float64(ramp) * float64(i) / float64(players)))
			rng := rand.New(rand.NewSource(int64(i)))
			t0 := time.Now()
			c, err := dial(30 * time.Second)
			if err != nil {
				atomic.AddInt64(&failed, 1)
				failedBecause(err)
				return
			}
			defer c.close()
			var current atomic.Value
			current.Store(&bisect{1, 10})
			c.onFrame = func(m msg, at time.Time) {
				if m["type"] == "round_started" {
					current.Store(&bisect{number(m, "low"), number(m, "high")})
				}
			}
			go c.read()
			mode, room := "single", ""
			if roomSize > 0 {
				mode, room = "multi", "r"+strconv.Itoa(i/roomSize)
			}
			if _, err := join(c, prefix+"h"+strconv.Itoa(i), mode, room); err != nil {
				atomic.AddInt64(&failed, 1)
				failedBecause(err)
				return
			}
			admit.add(time.Since(t0))
			atomic.AddInt64(&admitted, 1)
			for {
				pause := time.Duration(rng.ExpFloat64() * float64(time.Second))
				if time.Now().Add(pause).After(end) {
					if stay {
						time.Sleep(time.Until(end.Add(3 * time.Second)))
					}
					return
				}
				time.Sleep(pause)
				b := current.Load().(*bisect)
				value := b.next()
				sent := time.Now()
				if err := c.send(msg{"type": "guess", "value": value}); err != nil {
					atomic.AddInt64(&dropped, 1)
					return
				}
				answer, err := c.expect(30*time.Second, "hint")
				if answer == nil {
					atomic.AddInt64(&dropped, 1)
					return
				}
				if sent.After(measureFrom) {
					took := time.Since(sent)
					latency.add(took)
					if at := int(sent.Sub(measureFrom).Seconds() / sliceSeconds); at < len(slices) {
						slices[at].add(took)
					}
				}
				if err != nil {
					atomic.AddInt64(&rejected, 1) // e.g. "being recorded": no try used
					continue
				}
				atomic.AddInt64(&guesses, 1)
				result, _ := answer["result"].(string)
				b.hint(value, result)
			}
		}(i)
	}
	wg.Wait()
	out := map[string]any{"players": players, "admitted": admitted, "failed": failed,
		"dropped": dropped, "rejected": rejected, "guesses": guesses,
		"rate_per_s": float64(guesses) / time.Since(start).Seconds()}
	latency.summary("", out)
	admit.summary("admit_", out)
	bySlice := make([]float64, len(slices))
	for i := range slices {
		part := map[string]any{}
		slices[i].summary("", part)
		bySlice[i] = part["p99_ms"].(float64)
	}
	out["slice_s"] = sliceSeconds
	out["p99_by_slice_ms"] = bySlice
	return out
}

// ------------------------------------------------------------------------- saturate

func saturate(clients int, duration time.Duration, reference bool) map[string]any {
	var latency samples
	var answers, errorsSeen int64
	conns := make([]*conn, 0, clients)
	for i := 0; i < clients; i++ {
		c, err := dial(30 * time.Second)
		if err != nil {
			fail(err)
		}
		go c.read()
		if reference {
			c.send(msg{"type": "hello", "version": 1})
			_, err = c.expect(30*time.Second, "welcome")
		} else {
			_, err = join(c, prefix+"s"+strconv.Itoa(i), "single", "")
		}
		if err != nil {
			fail(err)
		}
		conns = append(conns, c)
	}
	cpu0 := cpuSeconds()
	start := time.Now()
	end := start.Add(duration)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func(i int, c *conn) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(i)))
			for time.Now().Before(end) {
				sent := time.Now()
				if c.send(msg{"type": "guess", "value": 1 + rng.Intn(10)}) != nil {
					return
				}
				answer, err := c.expect(30*time.Second, "hint")
				if answer == nil {
					atomic.AddInt64(&errorsSeen, 1)
					return
				}
				if err != nil {
					atomic.AddInt64(&errorsSeen, 1)
					continue
				}
				latency.add(time.Since(sent))
				atomic.AddInt64(&answers, 1)
			}
		}(i, c)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	for _, c := range conns {
		c.close()
	}
	out := map[string]any{"clients": clients, "answers": answers, "errors": errorsSeen,
		"rate_per_s": float64(answers) / elapsed, "measured_cpu_s": cpuSeconds() - cpu0,
		"measured_s": elapsed}
	latency.summary("", out)
	return out
}

// ------------------------------------------------------------------------- fanout

func fanout(members, rounds int) map[string]any {
	var last samples // per round: the winning guess sent -> the last member told
	var mu sync.Mutex
	ended := map[int][]time.Time{} // round -> when each member heard it ended
	var endedCount sync.WaitGroup
	conns := make([]*conn, 0, members)
	for i := 0; i < members; i++ {
		c, err := dial(30 * time.Second)
		if err != nil {
			fail(err)
		}
		c.onFrame = func(m msg, at time.Time) {
			if m["type"] == "round_ended" {
				mu.Lock()
				r := number(m, "round")
				ended[r] = append(ended[r], at)
				mu.Unlock()
				endedCount.Done()
			}
		}
		go c.read()
		if _, err := join(c, prefix+"m"+strconv.Itoa(i), "multi", "fan"); err != nil {
			fail(err)
		}
		conns = append(conns, c)
	}
	winner, err := dial(30 * time.Second)
	if err != nil {
		fail(err)
	}
	go winner.read()
	started, err := join(winner, prefix+"winner", "multi", "fan")
	if err != nil {
		fail(err)
	}
	round := number(started, "round")
	for r := 0; r < rounds; r++ {
		endedCount.Add(members)
		b := &bisect{number(started, "low"), number(started, "high")}
		var sent time.Time
		for {
			value := b.next()
			sent = time.Now()
			winner.send(msg{"type": "guess", "value": value})
			answer, err := winner.expect(30*time.Second, "hint")
			if err != nil {
				fail(err)
			}
			result, _ := answer["result"].(string)
			if result == "correct" {
				break
			}
			b.hint(value, result)
		}
		endedCount.Wait()
		mu.Lock()
		latest := sent
		for _, at := range ended[round] {
			if at.After(latest) {
				latest = at
			}
		}
		mu.Unlock()
		last.add(latest.Sub(sent))
		if started, err = winner.expect(30*time.Second, "round_started"); err != nil {
			fail(err)
		}
		round = number(started, "round")
	}
	for _, c := range append(conns, winner) {
		c.close()
	}
	out := map[string]any{"members": members, "rounds": rounds}
	last.summary("last_", out)
	return out
}

// ------------------------------------------------------------------------- connect

func connect(workers int, duration time.Duration, hold int) map[string]any {
	held := make([]*conn, 0, hold)
	for i := 0; i < hold; i++ {
		c, err := dial(30 * time.Second)
		if err != nil {
			fail(err)
		}
		go c.read()
		if _, err := join(c, prefix+"hold"+strconv.Itoa(i), "single", ""); err != nil {
			fail(err)
		}
		held = append(held, c)
	}
	var sessions, errorsSeen int64
	var latency samples
	cpu0 := cpuSeconds()
	start := time.Now()
	end := start.Add(duration)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				t0 := time.Now()
				c, err := dial(30 * time.Second)
				if err != nil {
					atomic.AddInt64(&errorsSeen, 1)
					continue
				}
				go c.read()
				c.send(msg{"type": "hello", "version": 1})
				if _, err := c.expect(30*time.Second, "welcome"); err != nil {
					atomic.AddInt64(&errorsSeen, 1)
				} else {
					atomic.AddInt64(&sessions, 1)
					latency.add(time.Since(t0))
				}
				c.send(msg{"type": "quit"})
				c.close()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	for _, c := range held {
		c.close()
	}
	out := map[string]any{"workers": workers, "held": hold, "sessions": sessions,
		"errors": errorsSeen, "rate_per_s": float64(sessions) / elapsed,
		"measured_cpu_s": cpuSeconds() - cpu0, "measured_s": elapsed}
	latency.summary("", out)
	return out
}

// ------------------------------------------------------------------------- main

func fail(err error) {
	fmt.Fprintln(os.Stderr, "goload:", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: goload human|saturate|fanout|connect [flags] (-h for flags)"))
	}
	scenario := os.Args[1]
	flags := flag.NewFlagSet(scenario, flag.ExitOnError)
	host := flags.String("host", "127.0.0.1", "server address")
	port := flags.Int("port", 4000, "player port")
	ca := flags.String("ca", "certs/ca.pem", "CA certificate that signed the server's")
	players := flags.Int("players", 1000, "human: players")
	roomSize := flags.Int("room-size", 0, "human: players per room (0: single player)")
	ramp := flags.Duration("ramp", 10*time.Second, "human: players arrive over this time")
	duration := flags.Duration("duration", 30*time.Second, "measured time after the ramp")
	stay := flags.Bool("stay", false, "human: players leave only after the measured time")
	clients := flags.Int("clients", 50, "saturate: clients")
	reference := flags.Bool("reference", false, "saturate: the server is bench/refserver.py")
	members := flags.Int("members", 1000, "fanout: room members")
	rounds := flags.Int("rounds", 20, "fanout: rounds won")
	workers := flags.Int("workers", 16, "connect: connecting clients")
	hold := flags.Int("hold", 0, "connect: sessions held open meanwhile")
	flags.Parse(os.Args[2:])

	pem, err := os.ReadFile(*ca)
	if err != nil {
		fail(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		fail(fmt.Errorf("no certificate in %s", *ca))
	}
	tlsConfig = &tls.Config{RootCAs: pool, ServerName: *host, MinVersion: tls.VersionTLS12}
	address = net.JoinHostPort(*host, strconv.Itoa(*port))
	prefix = strconv.FormatInt(time.Now().UnixNano()%1_000_000, 36) + "_"

	cpu0, wall0 := cpuSeconds(), time.Now()
	var out map[string]any
	switch scenario {
	case "human":
		out = human(*players, *roomSize, *ramp, *duration, *stay)
	case "saturate":
		out = saturate(*clients, *duration, *reference)
	case "fanout":
		out = fanout(*members, *rounds)
	case "connect":
		out = connect(*workers, *duration, *hold)
	default:
		fail(fmt.Errorf("unknown scenario %q", scenario))
	}
	out["scenario"] = scenario
	if reasons.seen != nil {
		out["failures"] = reasons.seen
	}
	out["client_cpu_s"] = cpuSeconds() - cpu0
	out["client_wall_s"] = time.Since(wall0).Seconds()
	encoded, _ := json.Marshal(out)
	fmt.Println(string(encoded))
}
