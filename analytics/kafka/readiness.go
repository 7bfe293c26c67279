package kafka

import "fmt"

// Readiness says whether a member in this state takes traffic, and why,
// for /readyz. A member holding no partitions stays ready, and says why:
// in a group with more members than the topic has partitions the extra
// members are healthy but idle (they take partitions over when another
// member leaves, and a rollout or a scale-up must not wait on them); a
// member joining, between generations, or unable to reach the group
// coordinator holds none for the time being, and the detail names which.
func (m Membership) Readiness(paused bool) (bool, string) {
	switch {
	case m.InGroup && len(m.Partitions) > 0:
		state := "consuming"
		if paused {
			state = "paused"
		}
		noun := "partitions"
		if len(m.Partitions) == 1 {
			noun = "partition"
		}
		return true, fmt.Sprintf("ready: %s %d %s %v", state, len(m.Partitions), noun, m.Partitions)
	case m.InGroup:
		return true, fmt.Sprintf("ready: idle, 0 partitions: the group has more members than the topic has partitions; this member takes some over when another leaves (generation %d)", m.Generation)
	case m.JoinErr != nil:
		return true, "ready: 0 partitions; degraded: not in the consumer group, cannot join it (" + m.JoinErr.Error() + "); retrying"
	case m.Generation == 0:
		return true, "ready: 0 partitions yet: joining the consumer group"
	}
	return true, "ready: 0 partitions for now: the consumer group is rebalancing"
}
