//go:build race

package upload

const raceDetector = true
