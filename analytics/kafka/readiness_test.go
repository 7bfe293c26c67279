package kafka

import (
	"errors"
	"testing"
)

// TestMembershipReadiness: a member is ready in every state of the group
// (an idle or joining member must not hold a rollout back), and the
// detail says which state it is in.
func TestMembershipReadiness(t *testing.T) {
	for _, tc := range []struct {
		m      Membership
		paused bool
		want   string
	}{
		{Membership{InGroup: true, Generation: 3, Partitions: []int{0, 2}}, false, "ready: consuming 2 partitions [0 2]"},
		{Membership{InGroup: true, Generation: 3, Partitions: []int{1}}, true, "ready: paused 1 partition [1]"},
		{Membership{InGroup: true, Generation: 4}, false, "ready: idle, 0 partitions: the group has more members than the topic has partitions; this member takes some over when another leaves (generation 4)"},
		{Membership{Generation: 2, JoinErr: errors.New("coordinator not available")}, false, "ready: 0 partitions; degraded: not in the consumer group, cannot join it (coordinator not available); retrying"},
		{Membership{}, false, "ready: 0 partitions yet: joining the consumer group"},
		{Membership{Generation: 5}, false, "ready: 0 partitions for now: the consumer group is rebalancing"},
	} {
		ok, got := tc.m.Readiness(tc.paused)
		if !ok || got != tc.want {
			t.Errorf("%+v paused=%v: Readiness = %v, %q; want true, %q", tc.m, tc.paused, ok, got, tc.want)
		}
	}
}
