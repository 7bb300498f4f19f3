//go:build !unix

package postgres

import "errors"

type cluster struct{ dsn string }

var errUnavailable = errors.New("starting a throwaway PostgreSQL server is implemented for Unix only; set CORRIDOR_TEST_POSTGRES_DSN")

func startCluster() (*cluster, error) { return nil, errUnavailable }

func (c *cluster) stop() {}
