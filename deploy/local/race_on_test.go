//go:build race

package main

// raceEnabled: the tests build the local stack with -race too, so a data
// race anywhere in the services running side by side fails them.
const raceEnabled = true
