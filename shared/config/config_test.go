package config

import (
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad(t *testing.T) {
	full := map[string]string{"TIMEBRIDGE_TABLE": "t", "TIMEBRIDGE_SECRET_PREFIX": "p/", "TIMEBRIDGE_QUEUE_URL": "q",
		"TIMEBRIDGE_ADMIN_SECRET": "a", "TIMEBRIDGE_PUBLIC_URL": "https://x/", "TIMEBRIDGE_LOCAL_MODE": "1", "LOG_LEVEL": "debug"}
	c, err := Load(env(full), NeedAdmin)
	if err != nil || c.PublicURL != "https://x" || !c.LocalMode || c.LogLevel.String() != "DEBUG" {
		t.Fatalf("%+v %v", c, err)
	}
	// Every missing variable is reported at once.
	_, err = Load(env(map[string]string{"LOG_LEVEL": "loud"}), NeedAdmin)
	for _, want := range []string{"TIMEBRIDGE_TABLE", "TIMEBRIDGE_SECRET_PREFIX", "TIMEBRIDGE_QUEUE_URL", "TIMEBRIDGE_ADMIN_SECRET", "TIMEBRIDGE_PUBLIC_URL", "LOG_LEVEL=loud"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %s", err, want)
		}
	}
	// Functions without NeedAdmin don't ask for the admin secret.
	delete(full, "TIMEBRIDGE_ADMIN_SECRET")
	if _, err := Load(env(full)); err != nil {
		t.Fatal(err)
	}
}
