//go:build race

package relay

// raceEnabled: the race detector's sync.Pool drops some of what is put back, so that allocation
// counts do not hold under it.
const raceEnabled = true
