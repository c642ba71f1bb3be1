package bench

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{name: "one sample", sorted: []time.Duration{5}, p: 99, want: 5},
		{name: "median of 100", sorted: hundred, p: 50, want: 50 * time.Millisecond},
		{name: "p90 of 100", sorted: hundred, p: 90, want: 90 * time.Millisecond},
		{name: "p99 of 100", sorted: hundred, p: 99, want: 99 * time.Millisecond},
		{name: "p99 of 3 is the largest", sorted: []time.Duration{1, 2, 3}, p: 99, want: 3},
		{name: "p50 of 2 is the smaller", sorted: []time.Duration{1, 2}, p: 50, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(p%d) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestRecorderKeepsBoundedSamples(t *testing.T) {
	rec := newRecorder()
	const n = maxSamples + 50_000
	for i := range n {
		rec.add(outcome{latency: time.Duration(i%1000+1) * time.Microsecond, resumed: i%2 == 0})
	}
	rec.add(outcome{errKind: errDial})
	if len(rec.samples) != maxSamples {
		t.Errorf("kept %d samples, want the cap %d", len(rec.samples), maxSamples)
	}
	handshakes, resumed, errs := rec.counts()
	if handshakes != n || resumed != n/2 || errs != 1 {
		t.Errorf("counts = %d, %d, %d; want %d, %d, 1", handshakes, resumed, errs, n, n/2)
	}
	lat := rec.latencies()
	if lat.Max != 1000 {
		t.Errorf("max = %v us, want exactly 1000", lat.Max)
	}
	// Latencies are uniform over 1..1000 us: the sampled median is near 500.
	if lat.P50 < 450 || lat.P50 > 550 {
		t.Errorf("p50 = %v us, want about 500", lat.P50)
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{
			name: "plain command name",
			stat: "1234 (nginx) S 1 1234 1234 0 -1 4194560 500 0 0 0 150 25 0 0 20 0 1 0 100 1000 200 18446744073709551615",
			want: 1750 * time.Millisecond,
		},
		{
			name: "command name with spaces and parentheses",
			stat: "42 (my (odd) server) R 1 42 42 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 100 1000 200",
			want: 100 * time.Millisecond,
		},
		{name: "no command name", stat: "42 nginx S", wantErr: true},
		{name: "truncated", stat: "42 (nginx) S 1 2 3", wantErr: true},
		{name: "not a number", stat: "42 (nginx) S 1 42 42 0 -1 0 0 0 0 0 x 3 0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU(tt.stat)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("cpu = %v, want %v", got, tt.want)
			}
		})
	}
}
