package redisstore

import "testing"

func TestStreamIDBefore(t *testing.T) {
	f := func(id, want string, wantOK bool) {
		t.Helper()
		got, ok := streamIDBefore(id)
		if got != want || ok != wantOK {
			t.Fatalf("streamIDBefore(%q) = %q, %v; want %q, %v", id, got, ok, want, wantOK)
		}
	}
	f("1700000000000-5", "1700000000000-4", true)
	f("1700000000000-0", "1699999999999-18446744073709551615", true)
	f("0-0", "0-0", true)
	f("x-1", "", false)
	f("17", "", false)
	f("1-", "", false)
}
