package flows

import "testing"

// TestAttemptStats checks flood mode's switches: on when nine attempts in
// ten wait unanswered, not at eight in ten; off when more than one
// compacted attempt in five is reopened early, not at one in six.
func TestAttemptStats(t *testing.T) {
	feed := func(s *attemptStats, n, every int, rare, common func()) {
		for i := range n {
			if i%every == 0 {
				rare()
			} else {
				common()
			}
		}
	}
	var s attemptStats
	feed(&s, 3*attemptWindow, 5, s.answered, s.compacted) // 1 in 5 answered
	if s.flood {
		t.Fatal("flood mode with one attempt in five answered")
	}
	feed(&s, 3*attemptWindow, 12, s.answered, s.compacted) // 1 in 12
	if !s.flood {
		t.Fatalf("no flood mode with one attempt in twelve answered: %+v", s)
	}
	feed(&s, 3*attemptWindow, 7, s.reopened, s.compacted) // 1 in 7 reopened
	if !s.flood {
		t.Fatalf("flood mode left with one compacted attempt in seven reopened: %+v", s)
	}
	feed(&s, attemptWindow, 3, s.reopened, s.compacted) // 1 in 3
	if s.flood {
		t.Fatalf("flood mode kept with one compacted attempt in three reopened: %+v", s)
	}
	// Out of flood mode, those attempts stay whole and are answered.
	feed(&s, 3*attemptWindow, 3, s.answered, s.compacted)
	if s.flood {
		t.Fatalf("flood mode with one attempt in three answered: %+v", s)
	}
}
