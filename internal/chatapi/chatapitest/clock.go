package chatapitest

import (
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/vclock"
)

// Clock is the virtual clock of internal/vclock, named here for the tests that use
// this package's fake server with it.
type Clock = vclock.Clock

// NewClock returns a clock showing start.
func NewClock(start time.Time) *Clock { return vclock.New(start) }
