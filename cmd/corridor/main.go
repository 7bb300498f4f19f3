// Command corridor runs Corridor, a secure crisis-response platform.
// See the README and docs/ for how to run it.
package main

import (
	"context"
	"os"

	"github.com/corridor-org/corridor/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], &cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
}
