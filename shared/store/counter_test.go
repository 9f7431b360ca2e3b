package store_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
)

func TestCounters(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	exp := f.clock.Now().Add(time.Minute)
	// Concurrent adds from many "instances" are all counted.
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.st.AddCount(c, "login-user:abc:1", 1, exp); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n, err := f.st.AddCount(c, "login-user:abc:1", 1, exp); err != nil || n != 21 {
		t.Fatalf("AddCount = %d, %v; want 21", n, err)
	}
	got, err := f.st.Counts(c, "login-user:abc:1", "login-address:1.2.3.4:1", "login-user:abc:1")
	if err != nil || got["login-user:abc:1"] != 21 || got["login-address:1.2.3.4:1"] != 0 || len(got) != 2 {
		t.Fatalf("Counts = %v, %v", got, err)
	}
	// Expired counters read as 0 although DynamoDB has not deleted them.
	f.clock.Add(2 * time.Minute)
	if got, err := f.st.Counts(c, "login-user:abc:1"); err != nil || got["login-user:abc:1"] != 0 {
		t.Fatalf("expired counter: %v, %v", got, err)
	}
	// Many names in one read; bad names are refused.
	var names []string
	for i := 0; i < 100; i++ {
		names = append(names, fmt.Sprint("n", i))
	}
	if got, err := f.st.Counts(c, names...); err != nil || len(got) != 100 {
		t.Fatalf("100 names: %d, %v", len(got), err)
	}
	if _, err := f.st.Counts(c, append(names, "x")...); !apperr.Is(err, apperr.Validation) {
		t.Fatalf("101 names: %v", err)
	}
	if _, err := f.st.AddCount(c, "a#b", 1, exp); !apperr.Is(err, apperr.Validation) || !strings.Contains(apperr.MessageOf(err), "#") {
		t.Fatalf("name with #: %v", err)
	}
}
