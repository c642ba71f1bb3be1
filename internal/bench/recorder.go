package bench

import (
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// maxSamples bounds the latency samples a run keeps: beyond it the recorder
// keeps a uniform random subset (reservoir sampling), so memory stays fixed
// however long the run is, while the maximum and mean stay exact.
const maxSamples = 100_000

// Error kinds, the keys of the report's error counts.
const (
	errDial      = "dial"      // TCP connect failed
	errTimeout   = "timeout"   // --timeout elapsed during dial, handshake or request
	errHandshake = "handshake" // TLS handshake failed
	errRequest   = "request"   // --send-request: writing or reading the request failed
)

// errorKinds lists every kind, in report order.
var errorKinds = []string{errDial, errTimeout, errHandshake, errRequest}

// outcome is the result of one connection attempt.
type outcome struct {
	latency time.Duration // dial + handshake; set when errKind is ""
	resumed bool
	errKind string // "" on success
	err     error  // the error, when errKind is set
}

// recorder aggregates outcomes from all workers. It is safe for concurrent
// use; a handshake takes a millisecond or so, so one mutex costs nothing.
type recorder struct {
	mu         sync.Mutex
	handshakes int64
	resumed    int64
	errs       map[string]int64
	first      map[string]string // the first error of each kind, for the report
	samples    []time.Duration
	sum, max   time.Duration
}

func newRecorder() *recorder {
	return &recorder{errs: make(map[string]int64, len(errorKinds)), first: map[string]string{}}
}

// add records one outcome.
func (r *recorder) add(o outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if o.errKind != "" {
		r.errs[o.errKind]++
		if _, ok := r.first[o.errKind]; !ok && o.err != nil {
			r.first[o.errKind] = o.err.Error()
		}
		return
	}
	r.handshakes++
	if o.resumed {
		r.resumed++
	}
	r.sum += o.latency
	r.max = max(r.max, o.latency)
	if len(r.samples) < maxSamples {
		r.samples = append(r.samples, o.latency)
	} else if i := rand.Int64N(r.handshakes); i < maxSamples {
		r.samples[i] = o.latency
	}
}

// counts returns handshakes, resumed handshakes and errors so far.
func (r *recorder) counts() (handshakes, resumed, errs int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.errs {
		errs += n
	}
	return r.handshakes, r.resumed, errs
}

// latencies summarises the recorded latencies; all zero without samples.
func (r *recorder) latencies() latencyReport {
	r.mu.Lock()
	sorted := slices.Clone(r.samples)
	sum, maxLat, n := r.sum, r.max, r.handshakes
	r.mu.Unlock()
	if n == 0 {
		return latencyReport{}
	}
	slices.Sort(sorted)
	return latencyReport{
		P50:  micros(percentile(sorted, 50)),
		P90:  micros(percentile(sorted, 90)),
		P99:  micros(percentile(sorted, 99)),
		Max:  micros(maxLat),
		Mean: micros(sum / time.Duration(n)),
	}
}

// firstErrors returns the first error of each kind seen.
func (r *recorder) firstErrors() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.first)
}

// errorCounts returns a count for every error kind, zero included.
func (r *recorder) errorCounts() (map[string]int64, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int64, len(errorKinds))
	var total int64
	for _, k := range errorKinds {
		out[k] = r.errs[k]
		total += r.errs[k]
	}
	return out, total
}

// percentile returns the nearest-rank p-th percentile of sorted samples.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n), 1-based
	return sorted[max(rank, 1)-1]
}

// micros converts d to microseconds, rounded to 0.1 us.
func micros(d time.Duration) float64 {
	return float64(d.Round(100*time.Nanosecond)) / float64(time.Microsecond)
}
