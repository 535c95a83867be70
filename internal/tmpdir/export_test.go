package tmpdir

// Choose is choose, for the external tests.
var Choose = choose
