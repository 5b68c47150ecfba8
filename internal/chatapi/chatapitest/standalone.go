package chatapitest

import (
	"fmt"
	"io"
	"sync"
)

// Standalone is the TB of a program that serves the fake outside a test (make run's
// local mode, the load harness): failures are printed to Out after Prefix, a bad call
// of the program's own (an empty or unknown account ID) panics, and the cleanups run
// at Close.
type Standalone struct {
	Out    io.Writer
	Prefix string

	mu       sync.Mutex
	cleanups []func()
}

// Helper does nothing: there is no test log to attribute lines in.
func (s *Standalone) Helper() {}

// Errorf prints the failure to Out after Prefix; the program goes on.
func (s *Standalone) Errorf(format string, args ...any) {
	_, _ = fmt.Fprintf(s.Out, s.Prefix+format+"\n", args...) // a log line; nowhere to report its loss
}

// Fatalf panics: only a bad call of the program's own gets here.
func (s *Standalone) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// Cleanup registers f to run at Close.
func (s *Standalone) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

// Close runs the cleanups, the last registered first, as a test would.
func (s *Standalone) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	s.cleanups = nil
}
