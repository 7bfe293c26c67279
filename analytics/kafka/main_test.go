package kafka

import (
	"os"
	"testing"
)

// TestMain runs the child processes of the SIGKILL tests when the
// environment asks for one (spoolChild, consumerChild), else the tests.
func TestMain(m *testing.M) {
	if dir := os.Getenv("QREDGE_TEST_SPOOL_CHILD"); dir != "" {
		spoolChild(dir)
		return
	}
	if env := os.Getenv("QREDGE_TEST_CONSUMER_CHILD"); env != "" {
		consumerChild(env)
		return
	}
	os.Exit(m.Run())
}
